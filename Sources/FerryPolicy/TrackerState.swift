import FerryCore

/// The tracker: who holds or is receiving which blob, who was sent to whom, what each node
/// serves, and what nodes said about each other. A value type with no I/O and no clock (time is
/// passed in, in seconds from any fixed origin): the leader's `Tracker` drives one, and the
/// simulator (`ferry-sim`) runs the same one.
///
/// **Uploads are counted per (node, blob).** A candidate's `activeUploads` is the number of
/// transfers *of the requested blob* it was assigned and that are not over yet, so each blob
/// grows its own tree of fan-out `peerSlots`; `totalUploads` (every blob) is bounded by the
/// selector's `uploadLimit`. A follower asks for all the layers of an image at once: counted per
/// node, one requester took all of a node's slots and the trees collapsed into chains.
///
/// **Receivers are listed at assignment.** The moment ``choose(for:digest:size:have:failed:leader:reachable:now:)``
/// gives a requester a source, the requester is recorded as receiving the blob, so requests that
/// arrive together already see each other. Safe because a follower opens its ingest before it asks
/// for sources and its `/v2/` route serves an open ingest by cut-through.
///
/// **Only first-hand evidence counts** (see ``TrackerState+Evidence``): claims and accusations
/// are believed only about what the tracker itself handed out.
///
/// **Pruned candidates.** A request ranks only the candidates that could come first: a peer that
/// another beats on every count the selector looks at (uploads of the blob and of all blobs, hops
/// to the top, bytes) and that comes after it by name is left out, so one request costs a scan of
/// the blob's holders, not a sort of them (10,000 nodes in the simulator). ``View/full`` ranks all
/// of them, for checks.
public struct TrackerState: Sendable {
    /// What a node holds of a blob.
    public struct Holding: Sendable, Hashable {
        public var complete: Bool
        public var size: Int64
        public init(complete: Bool, size: Int64) {
            self.complete = complete
            self.size = size
        }
    }

    /// Behaviours kept for the simulator's comparisons with the tracker as it was; the leader uses the defaults.
    public struct Model: Sendable, Hashable {
        /// Count a candidate's slots per (node, blob) (default) or per node, over every blob.
        public var slotsPerBlob: Bool
        /// List a requester as receiving at assignment (default), or only when its `receiving` event comes.
        public var receiversAtAssignment: Bool
        public init(slotsPerBlob: Bool = true, receiversAtAssignment: Bool = true) {
            self.slotsPerBlob = slotsPerBlob
            self.receiversAtAssignment = receiversAtAssignment
        }
    }

    /// The candidate list handed to ``SourceSelector``.
    public enum View: Sendable, Hashable {
        /// Only candidates no other beats on every count, plus the leader.
        case pruned
        /// Every usable holder.
        case full
    }

    public let selector: SourceSelector
    public let evidence: EvidenceRules
    public let model: Model

    /// Node names, interned: index 0 is `leader`.
    var names: [String] = [Self.leaderName]
    var ids: [String: Int32] = [Self.leaderName: 0]
    /// Per node id: transfers of every blob it serves now, as assigned.
    var totalUploads: [Int32] = [0]
    var books: [Digest: BlobBook] = [:]
    /// Nodes whose inventory the tracker has heard since it started.
    var inventories: Set<String> = []
    var scratch = Scratch()
    // Evidence (TrackerState+Evidence.swift).
    var accusations: [Int32: [Int32: Double]] = [:]
    var strikes: [Int32: [Int32: [Double]]] = [:]
    var personal: [Int32: [Int32: Double]] = [:]
    var flaggedUntil: [Int32: Double] = [:]
    var leaderChecks: [Digest: Double] = [:]
    /// Per blob, per flagged node: when it was last asked to re-verify its copy.
    var peerChecks: [Digest: [Int32: Double]] = [:]
    /// Per blob, per node: its own reports of trouble with the blob's sources.
    var troubles: [Digest: [Int32: Trouble]] = [:]
    /// Per accuser, per source: when a report was last explained away.
    var excused: [Int32: [Int32: Excuse]] = [:]
    /// Reports that counted in the last ``EvidenceRules/explanationGrace``, undoable.
    var reports: [CountedReport] = []
    /// When ``sweepHanded(now:)`` last ran.
    var lastHandedSweep = -Double.infinity

    public static let leaderName = "leader"
    /// Candidates handed to the selector so far (a measure of the pruned view's work).
    public private(set) var candidatesRanked = 0

    public init(selector: SourceSelector, evidence: EvidenceRules = .init(), model: Model = .init()) {
        self.selector = selector
        self.evidence = evidence
        self.model = model
    }

    /// Ranks the sources for `requester`; the first becomes its assigned feed, the requester is
    /// listed from now on as receiving the blob, and every source in the answer counts as handed
    /// to it (the only sources it may accuse).
    /// - Parameters:
    ///   - leader: the leader's own holding of the blob, if any (complete, or still arriving).
    ///   - reachable: the nodes that can be asked right now; nil: everyone.
    public mutating func choose(
        for requester: String, digest: Digest, size: Int64, have: Int64 = 0, failed: [String] = [], leader: Holding?,
        reachable: Set<String>?, now: Double, view: View = .pruned
    ) -> [SourceCandidate] {
        sweepHanded(now: now)
        let who = intern(requester)
        var book = books.removeValue(forKey: digest) ?? BlobBook()
        defer { books[digest] = book }
        book.grow(to: names.count)
        release(who, in: &book)
        let excluded = excludedIDs(for: who, failed: failed, now: now)
        let (candidates, roots) = candidates(
            for: who, in: &book, size: size, have: have, leader: leader, reachable: reachable, excluded: excluded, view: view)
        candidatesRanked += candidates.count
        // The leader is never suspected on a node's word (as in ``excludedIDs(for:failed:now:)``):
        // a transfer from it that stalled because its own upstream did resumes from it, where
        // leaving it out answered no source and had the node throw its bytes away. (A leader that
        // threw away a copy that failed verification and started over is asked again too: bytes
        // the node kept of the bad copy fail its own verification, and it fetches the blob again.)
        let ranked = selector.rank(
            requester: requester, have: have, candidates: candidates, suspects: Set(failed).subtracting([Self.leaderName]), feeds: book.feeds,
            roots: roots)
        guard let first = ranked.first, let source = ids[first.node] else { return ranked }
        book.source[Int(who)] = source
        book.uploads[Int(source)] += 1
        totalUploads[Int(source)] += 1
        book.feeds[requester] = first.node
        for candidate in ranked { if let id = ids[candidate.node] { book.handed[who, default: []].insert(id) } }
        book.handedAt[who] = now
        if model.receiversAtAssignment, book.state[Int(who)] != .complete {
            // Its ingest is open (MeshFetcher opens it before asking): peers asking from now
            // on may be sent to it and wait for its bytes.
            book.setState(who, .receiving, names: names)
        }
        return ranked
    }

    /// Forgets sources handed more than ``EvidenceRules/handedLifetime`` ago (at most every tenth
    /// of it): the record of what was handed to whom stays bounded however long the tracker runs.
    mutating func sweepHanded(now: Double) {
        let lifetime = evidence.handedLifetime
        guard now - lastHandedSweep >= lifetime / 10 else { return }
        lastHandedSweep = now
        sweepEvidence(now: now)
        for digest in Array(books.keys) where !(books[digest]?.handed.isEmpty ?? true) {
            withBook(digest) { _, book in
                for (receiver, at) in book.handedAt where now - at > lifetime {
                    book.handed[receiver] = nil
                    book.handedAt[receiver] = nil
                }
            }
        }
    }

    /// (receiver, blob) pairs the tracker remembers handing sources for.
    public var handedRecords: Int { books.values.reduce(0) { $0 + $1.handed.count } }

    /// Makes `node` known without saying anything about it. Optional: nodes are known from their
    /// first request or event; registering a cluster in name order keeps scans in name order.
    public mutating func register(_ node: String) { _ = intern(node) }

    /// Whether the tracker needs the node's full inventory (it has not heard it since it started).
    public func needsInventory(_ node: String) -> Bool { !inventories.contains(node) }

    /// Forgets what a node was receiving and serving (it went away); what it holds stays known.
    public mutating func forget(_ node: String) {
        inventories.remove(node)
        guard let who = ids[node] else { return }
        for digest in Array(books.keys) {
            guard var book = books.removeValue(forKey: digest) else { continue }
            book.grow(to: names.count)
            release(who, in: &book)
            if book.state[Int(who)] == .receiving { book.setState(who, .none, names: names) }
            for receiver in book.members where book.source[Int(receiver)] == who { release(receiver, in: &book) }
            books[digest] = book
        }
    }

    // MARK: Views for status and tests

    /// Nodes holding the blob completely.
    public func holders(of digest: Digest) -> [String] { members(of: digest, .complete) }

    /// Nodes listed as receiving the blob.
    public func receivers(of digest: Digest) -> [String] { members(of: digest, .receiving) }

    /// The source each receiver of the blob was last given.
    public func sources(of digest: Digest) -> [String: String] { books[digest]?.feeds ?? [:] }

    /// Transfers `node` is serving now: of `digest`, or of every blob when `digest` is nil.
    public func uploads(of node: String, digest: Digest? = nil) -> Int {
        guard let id = ids[node] else { return 0 }
        guard let digest else { return Int(totalUploads[Int(id)]) }
        guard let book = books[digest], Int(id) < book.uploads.count else { return 0 }
        return Int(book.uploads[Int(id)])
    }

    /// The sources handed to `node` for `digest` in this tracker's life.
    public func handed(to node: String, digest: Digest) -> Set<String> {
        guard let id = ids[node], let handed = books[digest]?.handed[id] else { return [] }
        return Set(handed.map { names[Int($0)] })
    }

    private func members(of digest: Digest, _ state: BlobBook.State) -> [String] {
        guard let book = books[digest] else { return [] }
        return book.members.filter { book.state[Int($0)] == state }.map { names[Int($0)] }
    }

    // MARK: Bookkeeping

    mutating func intern(_ name: String) -> Int32 {
        if let id = ids[name] { return id }
        let id = Int32(names.count)
        names.append(name)
        ids[name] = id
        totalUploads.append(0)
        scratch.grow(to: names.count)
        return id
    }

    /// Ends `receiver`'s assignment for the blob, if any.
    mutating func release(_ receiver: Int32, in book: inout BlobBook) {
        guard Int(receiver) < book.source.count else { return }
        let source = book.source[Int(receiver)]
        guard source >= 0 else { return }
        book.source[Int(receiver)] = -1
        book.uploads[Int(source)] -= 1
        totalUploads[Int(source)] -= 1
        book.feeds[names[Int(receiver)]] = nil
    }

    /// Applies `change` to the node's record of `digest` (created if needed).
    mutating func withBook(_ digest: Digest, _ change: (inout TrackerState, inout BlobBook) -> Void) {
        var book = books.removeValue(forKey: digest) ?? BlobBook()
        book.grow(to: names.count)
        change(&self, &book)
        if !book.isEmpty { books[digest] = book }
    }
}
