import FerryCore
import FerryDiagnostics
import FerryMesh
import FerryPolicy
import Logging

/// The leader's tracker: a thin driver of ``TrackerState`` (FerryPolicy, pure, run as is by the
/// simulator) that supplies the clock and turns wire events into its calls. Rebuilt from the
/// followers' reports after a restart (a follower sends its inventory when the leader asks for it
/// in a heartbeat answer).
actor Tracker {
    typealias Holding = TrackerState.Holding

    private var state: TrackerState
    private let clock = ContinuousClock()
    private let origin: ContinuousClock.Instant
    private let logger: Logger
    /// Per flagged node, the blobs it is to re-verify, handed over with its next heartbeat answer.
    private var rechecks: [String: Set<Digest>] = [:]

    init(selector: SourceSelector, evidence: EvidenceRules = .init(), logger: Logger = Logger(label: "ferry.tracker")) {
        state = TrackerState(selector: selector, evidence: evidence)
        origin = clock.now
        self.logger = logger
    }

    /// Seconds since the tracker started: the state's time.
    private var now: Double {
        let elapsed = clock.now - origin
        return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    }

    /// Ranks the sources for `requester`; the first becomes its assigned feed (see ``TrackerState``).
    func choose(
        for requester: String, request: SourceRequest, leader: Holding?, reachable: Set<String>
    ) -> [SourceCandidate] {
        state.choose(
            for: requester, digest: request.digest, size: request.size, have: request.have, failed: request.failed,
            leader: leader, reachable: reachable, now: now)
    }

    /// The sources of the request whose bytes are suspect (see ``TrackerState/suspectSources(_:digest:have:failed:now:)``).
    func suspectSources(_ requester: String, request: SourceRequest) -> [String] {
        state.suspectSources(requester, digest: request.digest, have: request.have, failed: request.failed, now: now)
    }

    /// Records a node's blob events; returns the blobs of the leader's own store to re-verify
    /// (a node accused the leader of serving them wrong), and keeps those a flagged peer is to
    /// re-verify for ``takeRechecks(for:)``. `proven`: for an inventory, the blobs the node is
    /// known to hold (of images it has a `done` install target for). `upstreamStalled`: whether
    /// the leader's own upstream transfer of a blob has stood still (reports of stalls against
    /// relays of it then count nothing, see ``TrackerState``).
    @discardableResult
    func record(
        _ events: BlobEvents, from node: String, proven: Set<Digest> = [], upstreamStalled: (Digest) -> Bool = { _ in false }
    ) -> [Digest] {
        let now = self.now
        if events.inventory {
            state.inventory(node, present: events.events.filter { $0.kind == .present }.map(\.digest), proven: proven)
        }
        var checks: [Digest] = []
        for event in events.events {
            switch event.kind {
            case .receiving:
                state.receiving(node, digest: event.digest)
            case .present:
                if !events.inventory { state.present(node, digest: event.digest) }
            case .gone:
                state.gone(node, digest: event.digest)
            case .corrupt, .overflow, .stalled, .truncated:
                let kind = Misbehaviour(rawValue: event.kind.rawValue) ?? .corrupt
                let verdict = state.accuse(
                    node, digest: event.digest, sources: event.sources, kind, now: now, upstreamStalled: upstreamStalled(event.digest))
                if verdict.checkLeader { checks.append(event.digest) }
                for peer in verdict.checkPeers {
                    rechecks[peer, default: []].insert(event.digest)
                    logger.notice(
                        "asking a flagged node to re-verify its copy of a blob reported corrupt",
                        metadata: ["node": "\(peer)", "digest": "\(event.digest)", "reported_by": "\(node)"])
                }
                FerryMetrics.countReports(.counted, verdict.counted.count)
                FerryMetrics.countReports(.explained, verdict.explained.count + verdict.upstreamStalled.count)
                FerryMetrics.countReports(.withdrawn, verdict.withdrawn.count)
                if !verdict.explained.isEmpty {
                    logger.info(
                        "a report not counted: the source reported trouble with the blob itself",
                        metadata: ["node": "\(node)", "digest": "\(event.digest)", "kind": "\(kind.rawValue)", "sources": "\(verdict.explained)"])
                }
                if !verdict.upstreamStalled.isEmpty {
                    logger.info(
                        "a report not counted: the leader's own upstream transfer of the blob stood still",
                        metadata: ["node": "\(node)", "digest": "\(event.digest)", "kind": "\(kind.rawValue)", "sources": "\(verdict.upstreamStalled)"])
                }
                for withdrawal in verdict.withdrawn {
                    logger.info(
                        "an earlier report undone: its source reported trouble with the blob itself",
                        metadata: ["node": "\(withdrawal.accuser)", "digest": "\(event.digest)", "source": "\(withdrawal.source)"])
                }
            }
        }
        return checks
    }

    /// Up to `limit` of the blobs `node` is to re-verify (each handed over once; the rest wait
    /// for the next call), sorted.
    func takeRechecks(for node: String, limit: Int = 64) -> [Digest] {
        let all = (rechecks[node] ?? []).sorted()
        let taken = Array(all.prefix(limit))
        rechecks[node] = all.count > limit ? Set(all.dropFirst(limit)) : nil
        return taken
    }

    /// Whether the tracker needs the node's full inventory (it has not heard it since it started).
    func needsInventory(_ node: String) -> Bool { state.needsInventory(node) }

    /// Forgets what a node was receiving and serving (it went away); what it holds stays known.
    /// With `rechecks`, also the re-verifications it was to be asked for (it was removed, or a
    /// node joined under its name); a node only silent for a while keeps them for its return.
    func forget(_ node: String, rechecks: Bool = false) {
        state.forget(node)
        if rechecks { self.rechecks[node] = nil }
    }

    /// Nodes reported by the quorum of accusers, with their count, for `ferry nodes`.
    var flagged: [String: Int] { state.flagged(now: now) }

    func holders(of digest: Digest) -> [String] { state.holders(of: digest) }
    func receivers(of digest: Digest) -> [String] { state.receivers(of: digest) }
    func sources(of digest: Digest) -> [String: String] { state.sources(of: digest) }
    func uploads(of node: String, digest: Digest? = nil) -> Int { state.uploads(of: node, digest: digest) }
    func isExcluded(_ source: String, for requester: String) -> Bool { state.isExcluded(source, for: requester, now: now) }
}
