import FerryCore
import FerryMesh
import Foundation

/// The leader's view of who holds or is receiving which blob, and who is serving whom: the
/// input of ``SourceSelector``. Rebuilt from the followers' reports after a restart (a follower
/// sends its inventory when the leader asks for it in a heartbeat answer).
///
/// **Uploads are counted per (node, blob).** A candidate's `activeUploads` is the number of
/// transfers *of the requested blob* it was assigned and that are not over yet, so each blob
/// grows its own tree of fan-out `peerSlots`; `totalUploads` (every blob) is bounded by the
/// selector's `uploadLimit`. A follower asks for all the layers of an image at once: counted per
/// node, one requester took all of a node's slots and the trees collapsed into chains.
///
/// **Receivers are listed at assignment.** The moment ``choose(for:request:leader:reachable:)``
/// gives a requester a source, the requester is recorded as receiving the blob, so requests that
/// arrive together (a whole cluster starting an install) already see each other instead of all
/// seeing only the leader until their `receiving` events come in. This is safe because a
/// follower opens its ingest before it asks for sources (`MeshFetcher`), and its `/v2/` blob
/// route serves an open ingest — even at 0 bytes — by cut-through, waiting for bytes rather than
/// answering 404; a reader gives up on a feed that stalls (`BlobStore.readGrowing`) and fails
/// over. A requester that gives up is forgotten: its `gone` event, or ``forget(_:)`` when it
/// stops being seen, drops its incomplete holding and its assignment.
actor Tracker {
    struct Holding: Sendable, Hashable {
        var complete: Bool
        var size: Int64
    }

    let selector: SourceSelector
    /// Per blob, per node: what it holds.
    private var holdings: [Digest: [String: Holding]] = [:]
    /// Per blob: receiver → the source it was last given. A node's transfers of the blob are
    /// the receivers it feeds here (``serving(_:)``).
    private var feeds: [Digest: [String: String]] = [:]
    /// Per node (and `leader`): transfers of every blob it is serving now, as assigned.
    private var totalUploads: [String: Int] = [:]
    /// Per blob: nodes that served bytes which failed verification.
    private var suspects: [Digest: Set<String>] = [:]
    /// Per node: how many corrupt transfers it took part in.
    private var flags: [String: Int] = [:]
    /// Nodes whose inventory the tracker has heard since it started.
    private var inventories: Set<String> = []

    init(selector: SourceSelector) {
        self.selector = selector
    }

    /// Ranks the sources for `requester`; the first becomes its assigned feed, and the requester
    /// is listed from now on as receiving the blob (a source for others, by cut-through).
    /// - Parameters:
    ///   - leader: the leader's own holding of the blob, if any (complete, or still arriving).
    ///   - reachable: the nodes that can be asked right now (seen recently, with an address).
    func choose(
        for requester: String, request: SourceRequest, leader: Holding?, reachable: Set<String>
    ) -> [SourceCandidate] {
        let digest = request.digest
        release(requester, digest)
        let serving = serving(digest)
        var candidates: [SourceCandidate] = []
        if let leader {
            candidates.append(
                SourceCandidate(
                    node: "leader", kind: .leader, complete: leader.complete, bytes: leader.complete ? request.size : 0,
                    activeUploads: serving["leader", default: 0], totalUploads: totalUploads["leader", default: 0]))
        }
        for (node, holding) in holdings[digest] ?? [:] where reachable.contains(node) {
            candidates.append(
                SourceCandidate(
                    node: node, kind: .peer, complete: holding.complete, bytes: holding.complete ? request.size : 0,
                    activeUploads: serving[node, default: 0], totalUploads: totalUploads[node, default: 0]))
        }
        let excluded = (suspects[request.digest] ?? []).union(request.failed)
        let ranked = selector.rank(
            requester: requester, have: request.have, candidates: candidates, suspects: excluded, feeds: feeds[request.digest] ?? [:])
        if let first = ranked.first {
            feeds[digest, default: [:]][requester] = first.node
            totalUploads[first.node, default: 0] += 1
            if holdings[digest]?[requester]?.complete != true {
                // Its ingest is open (MeshFetcher opens it before asking): peers asking from now
                // on may be sent to it and wait for its bytes.
                holdings[digest, default: [:]][requester] = Holding(complete: false, size: request.size)
            }
        }
        return ranked
    }

    /// Records a node's blob events.
    func record(_ events: BlobEvents, from node: String) {
        if events.inventory {
            for digest in holdings.keys where holdings[digest]?[node]?.complete == true { holdings[digest]?[node] = nil }
            inventories.insert(node)
        }
        for event in events.events {
            switch event.kind {
            case .receiving:
                if holdings[event.digest]?[node]?.complete != true {
                    holdings[event.digest, default: [:]][node] = Holding(complete: false, size: event.size)
                }
            case .present:
                holdings[event.digest, default: [:]][node] = Holding(complete: true, size: event.size)
                release(node, event.digest)
            case .gone:
                holdings[event.digest]?[node] = nil
                release(node, event.digest)
            case .corrupt:
                holdings[event.digest]?[node] = nil
                release(node, event.digest)
                for source in event.sources {
                    suspects[event.digest, default: []].insert(source)
                    flags[source, default: 0] += 1
                }
            }
        }
    }

    /// Whether the tracker needs the node's full inventory (it has not heard it since it started).
    func needsInventory(_ node: String) -> Bool { !inventories.contains(node) }

    /// Forgets what a node was receiving and serving (it went away); what it holds stays known.
    func forget(_ node: String) {
        for digest in feeds.keys { release(node, digest) }
        for digest in holdings.keys where holdings[digest]?[node]?.complete == false { holdings[digest]?[node] = nil }
        for (digest, byReceiver) in feeds {
            for (receiver, source) in byReceiver where source == node { release(receiver, digest) }
        }
        inventories.remove(node)
    }

    /// Corrupt-transfer counts per node, for `ferry nodes`.
    var flagged: [String: Int] { flags }

    /// Nodes holding the blob completely (for tests and status).
    func holders(of digest: Digest) -> [String] {
        (holdings[digest] ?? [:]).filter(\.value.complete).map(\.key).sorted()
    }

    /// Nodes listed as receiving the blob (incomplete holdings), for tests and status.
    func receivers(of digest: Digest) -> [String] {
        (holdings[digest] ?? [:]).filter { !$0.value.complete }.map(\.key).sorted()
    }

    /// The source each receiver of the blob was last given, for tests.
    func sources(of digest: Digest) -> [String: String] { feeds[digest] ?? [:] }

    /// Transfers `node` is serving now: of `digest`, or of every blob when `digest` is nil.
    func uploads(of node: String, digest: Digest? = nil) -> Int {
        guard let digest else { return totalUploads[node, default: 0] }
        return serving(digest)[node, default: 0]
    }

    /// Per node (and `leader`): the transfers of `digest` it serves now, as assigned.
    private func serving(_ digest: Digest) -> [String: Int] {
        (feeds[digest] ?? [:]).values.reduce(into: [:]) { $0[$1, default: 0] += 1 }
    }

    private func release(_ receiver: String, _ digest: Digest) {
        guard let source = feeds[digest]?.removeValue(forKey: receiver) else { return }
        if feeds[digest]?.isEmpty == true { feeds[digest] = nil }
        let total = totalUploads[source, default: 0] - 1
        totalUploads[source] = total > 0 ? total : nil
    }
}
