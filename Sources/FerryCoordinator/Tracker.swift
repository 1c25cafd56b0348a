import FerryCore
import FerryMesh
import Foundation

/// The leader's view of who holds or is receiving which blob, and who is serving whom: the
/// input of ``SourceSelector``. Rebuilt from the followers' reports after a restart (a follower
/// sends its inventory when the leader asks for it in a heartbeat answer).
actor Tracker {
    struct Holding: Sendable, Hashable {
        var complete: Bool
        var size: Int64
    }

    let selector: SourceSelector
    /// Per blob, per node: what it holds.
    private var holdings: [Digest: [String: Holding]] = [:]
    /// Per blob: receiver → the source it was last given.
    private var feeds: [Digest: [String: String]] = [:]
    /// Per node (and `leader`): blob transfers it is serving now, as assigned.
    private var uploads: [String: Int] = [:]
    /// Per blob: nodes that served bytes which failed verification.
    private var suspects: [Digest: Set<String>] = [:]
    /// Per node: how many corrupt transfers it took part in.
    private var flags: [String: Int] = [:]
    /// Nodes whose inventory the tracker has heard since it started.
    private var inventories: Set<String> = []

    init(selector: SourceSelector) {
        self.selector = selector
    }

    /// Ranks the sources for `requester`; the first becomes its assigned feed.
    /// - Parameters:
    ///   - leader: the leader's own holding of the blob, if any (complete, or still arriving).
    ///   - reachable: the nodes that can be asked right now (seen recently, with an address).
    func choose(
        for requester: String, request: SourceRequest, leader: Holding?, reachable: Set<String>
    ) -> [SourceCandidate] {
        release(requester, request.digest)
        var candidates: [SourceCandidate] = []
        if let leader {
            candidates.append(
                SourceCandidate(
                    node: "leader", kind: .leader, complete: leader.complete, bytes: leader.complete ? request.size : 0,
                    activeUploads: uploads["leader", default: 0]))
        }
        for (node, holding) in holdings[request.digest] ?? [:] where reachable.contains(node) {
            candidates.append(
                SourceCandidate(
                    node: node, kind: .peer, complete: holding.complete, bytes: holding.complete ? request.size : 0,
                    activeUploads: uploads[node, default: 0]))
        }
        let excluded = (suspects[request.digest] ?? []).union(request.failed)
        let ranked = selector.rank(
            requester: requester, have: request.have, candidates: candidates, suspects: excluded, feeds: feeds[request.digest] ?? [:])
        if let first = ranked.first {
            feeds[request.digest, default: [:]][requester] = first.node
            uploads[first.node, default: 0] += 1
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
            for (receiver, source) in byReceiver where source == node {
                feeds[digest]?[receiver] = nil
                uploads[node, default: 0] = max(uploads[node, default: 0] - 1, 0)
            }
        }
        inventories.remove(node)
    }

    /// Corrupt-transfer counts per node, for `ferry nodes`.
    var flagged: [String: Int] { flags }

    /// Nodes holding the blob completely (for tests and status).
    func holders(of digest: Digest) -> [String] {
        (holdings[digest] ?? [:]).filter(\.value.complete).map(\.key).sorted()
    }

    private func release(_ receiver: String, _ digest: Digest) {
        guard let source = feeds[digest]?.removeValue(forKey: receiver) else { return }
        uploads[source] = max(uploads[source, default: 0] - 1, 0)
    }
}
