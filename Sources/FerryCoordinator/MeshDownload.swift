import FerryCore
import FerryMesh
import FerryPolicy

/// The decisions of one blob's download from the mesh, as a pure state machine: which source
/// to ask for, where to resume, when to wait, whom to accuse, when to give up. ``MeshFetcher``
/// performs each returned ``Action`` and feeds back what happened; this type does no I/O.
///
/// Rules:
/// - Bytes stay in the ingest across sources (each source resumes at the offset reached);
///   a source that fails is left out of the next request for sources until one succeeds.
/// - A source that sends more bytes than the blob has, or whose bytes fail verification, is
///   accused to the tracker — only sources this node received bytes from — and everything held
///   is discarded. After ``maxCorruptions`` the blob fails.
/// - A source that stalls (no byte for the stall timeout) or ends its transfer early is reported
///   by name (``Action/accuse(_:source:)``), then the next source resumes at the offset reached.
/// - After a corrupt blob that several sources contributed to (weak evidence: the tracker cannot
///   tell which lied), the blob is fetched again from one source only: a source failing part-way
///   makes the node start over, so the next corrupt report names one source and is conclusive.
/// - When the tracker says part of the bytes held came from a source that has since thrown its
///   own copy away (a relay fed by a liar), they are discarded and the blob fetched from the start.
/// - While nothing can serve the blob (the leader has not started on it), wait and ask again,
///   backing off as ``waitPolicy`` says.
struct MeshDownload: Sendable {
    enum Action: Sendable, Equatable {
        /// The ingest holds `size` bytes: verify and commit them.
        case commit
        /// Ask the tracker for sources, from `have` bytes, leaving out `failed`.
        case askSources(have: Int64, failed: [String])
        /// Wait, then report ``waited(have:)``; discard the bytes held first when `discard` is set.
        case wait(Duration, discard: Bool)
        /// Discard the bytes held (the tracker says part of them came from a source that has since
        /// thrown its own copy away), then report ``discarded()``.
        case discard
        /// GET the blob from `source` from offset `from`; first announce `receiving` if `announce`.
        case fetch(BlobSource, from: Int64, announce: Bool)
        /// Report `accused` to the tracker (`corrupt` or `overflow`), then open a fresh, empty ingest.
        case restart(accused: [String], kind: BlobEvent.Kind)
        /// Report that `source` misbehaved (`stalled`, `truncated`), then perform ``accused()``.
        case accuse(BlobEvent.Kind, source: String)
        /// The blob is committed: announce it present.
        case succeed
        /// Give up: close the ingest (discarding bytes that failed verification), announce `gone`, throw.
        case fail(FerryError)
    }

    /// How one fetch from a source ended.
    enum FetchOutcome: Sendable, Equatable {
        /// The ingest holds the whole blob.
        case complete
        /// The source could not be asked, or answered with an error; bytes it sent are kept.
        case failed(String)
        /// The source sent no byte for the stall timeout; bytes it sent are kept.
        case stalled(String)
        /// The source's transfer broke off or ended before the blob's end; bytes it sent are kept.
        case truncated(String)
        /// The source sent more bytes than the blob has.
        case overflow
    }

    static let maxCorruptions = 3
    /// The wait while no source can serve the blob yet (``SourceWaiting``, shared with the simulator).
    static let waitPolicy = SourceWaiting.policy

    let digest: Digest
    let size: Int64
    /// Sources that failed since the last successful fetch: left out of the next request.
    private(set) var failed: [String] = []
    /// Sources whose bytes are in the ingest now.
    private(set) var contributors: Set<String> = []
    private(set) var corruptions = 0
    private var announced = false
    private var waits = 0
    /// After a corrupt blob from several sources: the next one comes from one source only.
    private(set) var singleSource = false
    /// What to do once an ``Action/accuse(_:source:)`` is reported.
    private var afterAccusing: Action?
    /// Where the fetch under way started, and how many fetches in a row from one source failed
    /// at once, without a byte (a stall took its 5 s already): from the second, the next question
    /// waits, backing off as ``waitPolicy`` says. The tracker sends a node back to the leader whatever the node
    /// reported, so a leader that fails a request at once would otherwise be asked in a loop.
    private var fetchedFrom: Int64 = 0
    private(set) var fruitless = 0
    private var fruitlessSource: String?

    init(digest: Digest, size: Int64) {
        self.digest = digest
        self.size = size
    }

    /// The ingest is open holding `held` bytes (0, or what a previous run left).
    mutating func started(held: Int64) -> Action {
        held == size ? .commit : .askSources(have: held, failed: failed)
    }

    /// The tracker answered; `have` is what the ingest holds. `random` in 0...1 jitters waits.
    /// `suspect`: sources that have since reported the blob bad (``SourceList/suspect``); bytes
    /// held from any of them are discarded.
    mutating func answered(_ sources: [BlobSource], have: Int64, random: Double, suspect: [String] = []) -> Action {
        if have > 0, !contributors.isDisjoint(with: suspect) {
            contributors = []
            return .discard
        }
        guard let source = sources.first else {
            // Nothing can serve it yet (the leader has not started on it), or nothing can any
            // more: if bytes came from a source that failed and is no longer listed (say, the
            // leader threw away what failed verification), they are not to be trusted.
            let discard = !failed.isEmpty && have > 0
            if discard { contributors = [] }
            failed = []
            waits += 1
            let delay = SourceWaiting.delay(afterEmptyAnswers: waits, random: random)
            return .wait(delay, discard: discard)
        }
        waits = 0
        let announce = !announced
        announced = true
        contributors.insert(source.node)
        fetchedFrom = have
        return .fetch(source, from: have, announce: announce)
    }

    /// The bytes held are discarded after a ``Action/discard``: ask again, from the start.
    mutating func discarded() -> Action {
        .askSources(have: 0, failed: failed)
    }

    /// The wait is over; `have` is what the ingest holds.
    mutating func waited(have: Int64) -> Action {
        have == size ? .commit : .askSources(have: have, failed: failed)
    }

    /// A fetch from `source` ended; `have` is what the ingest holds now.
    mutating func fetched(from source: BlobSource, _ outcome: FetchOutcome, have: Int64) -> Action {
        switch outcome {
        case .complete:
            failed = []
            fruitless = 0
            return .commit
        case .failed, .stalled, .truncated:
            if !failed.contains(source.node) { failed.append(source.node) }
            if case .stalled = outcome {
                fruitless = 0
            } else if have > fetchedFrom {
                fruitless = 0
            } else {
                // Only the same source again counts: failing over across dead peers stays quick.
                fruitless = fruitlessSource == source.node ? fruitless + 1 : 1
                fruitlessSource = source.node
            }
            var next: Action = have == size ? .commit : .askSources(have: have, failed: failed)
            if fruitless >= 2, have < size {
                next = .wait(SourceWaiting.delay(afterEmptyAnswers: fruitless - 1, random: 0.5), discard: false)
            }
            if singleSource, have > 0, have < size {
                // Bytes from two sources could not be told apart if they fail again: start over.
                contributors = []
                next = .wait(.zero, discard: true)
            }
            switch outcome {
            case .stalled:
                afterAccusing = next
                return .accuse(.stalled, source: source.node)
            case .truncated:
                afterAccusing = next
                return .accuse(.truncated, source: source.node)
            default:
                return next
            }
        case .overflow:
            return corrupted(accusing: [source.node], kind: .overflow)
        }
    }

    /// The accusation of an ``Action/accuse(_:source:)`` is sent.
    mutating func accused() -> Action {
        defer { afterAccusing = nil }
        return afterAccusing ?? .askSources(have: 0, failed: failed)
    }

    /// The ingest's bytes did not match the blob's size or digest.
    mutating func verificationFailed() -> Action {
        corrupted(accusing: contributors.sorted(), kind: .corrupt)
    }

    /// A fresh ingest is open after a ``Action/restart(accused:)``.
    mutating func restarted() -> Action {
        .askSources(have: 0, failed: failed)
    }

    /// The blob was committed.
    func committed() -> Action { .succeed }

    private mutating func corrupted(accusing accused: [String], kind: BlobEvent.Kind) -> Action {
        corruptions += 1
        guard corruptions < Self.maxCorruptions else {
            return .fail(
                FerryError(.digestMismatch, "blob \(digest) failed verification \(corruptions) times, from \(accused.joined(separator: ", "))"))
        }
        failed = accused
        contributors = []
        announced = false
        if accused.count > 1 { singleSource = true }
        return .restart(accused: accused, kind: kind)
    }
}
