import FerryCore

/// A node that could serve a blob to another: the leader, or a peer holding or receiving it.
public struct SourceCandidate: Sendable, Hashable {
    public typealias Kind = SourceKind

    /// The node's name (`leader` for the leader).
    public var node: String
    public var kind: Kind
    /// Whether it holds the whole blob, verified.
    public var complete: Bool
    /// Bytes of the blob it holds (the size when complete).
    public var bytes: Int64
    /// Transfers *of this blob* it is serving now: what its slots (``SourceSelector/peerSlots``,
    /// ``SourceSelector/leaderSlots``) are counted against.
    public var activeUploads: Int
    /// Transfers of every blob it is serving now: what ``SourceSelector/uploadLimit`` bounds.
    public var totalUploads: Int

    /// A candidate; `totalUploads` defaults to `activeUploads` (a node serving only this blob).
    public init(node: String, kind: Kind, complete: Bool, bytes: Int64, activeUploads: Int, totalUploads: Int? = nil) {
        self.node = node
        self.kind = kind
        self.complete = complete
        self.bytes = bytes
        self.activeUploads = activeUploads
        self.totalUploads = max(totalUploads ?? activeUploads, activeUploads)
    }
}

/// The tracker's choice of sources for one node and one blob. Pure: the same inputs give the
/// same ranking, so the simulator runs exactly what the leader runs.
///
/// **Slots are per blob.** A node has a free slot for a blob when it serves fewer than
/// `peerSlots` (the leader: `leaderSlots`) transfers *of that blob*, and fewer than `uploadLimit`
/// transfers of all blobs together. A follower asks for every layer of an image at once, so with
/// slots counted across blobs a node could not serve even one whole requester and the tree below
/// collapsed into chains (docs/simulation.md); per blob, every blob gets its own tree of fan-out
/// `peerSlots` (as BitTorrent-style systems build one swarm per piece), and `uploadLimit`
/// (default 16: 3 slots × 4 layers fit under it) keeps a node from being asked for unboundedly
/// many streams by an image of many layers: past it, the node counts as over its cap.
///
/// Policy, best first:
/// 1. peers holding the whole blob with a free upload slot, least loaded (for this blob) first;
/// 2. sources still receiving it (the leader from upstream, peers by cut-through) with a free
///    slot, fewest hops from the top first — so the leader's slots fill first, then the first
///    peers', breadth first — and never a peer behind the requester or one that (through others)
///    waits on the requester; a leader that holds the whole blob comes last here, after every
///    such peer (its uplink is kept for what peers cannot serve);
/// 3. then everyone over their caps, peers before the leader, least loaded first: an answer is
///    always given when any source exists.
///
/// Complete peers are preferred to the leader as soon as they exist; while a blob is still
/// arriving, nodes form a tree of fan-out `peerSlots` under the leader's `leaderSlots`, whose depth
/// grows with the logarithm of the cluster's size, and the leader's uplink carries about
/// `leaderSlots` copies however many nodes there are.
public struct SourceSelector: Sendable, Hashable {
    /// Concurrent uploads of one blob a follower serves before others are preferred. Default 3.
    public var peerSlots: Int
    /// Concurrent uploads of one blob the leader serves before peers over their caps are preferred.
    /// Default 1: the upstream link, not the leader's uplink, is the bottleneck, so one stream per
    /// blob keeps up with it; the first receiver's cut-through feeds the tree below, and the leader
    /// sends about one copy of the image (docs/simulation.md: 2 slots cost 2 copies and saved 0.2%).
    public var leaderSlots: Int
    /// Whether peers serve at all (off: everyone pulls from the leader). Default on.
    public var peersEnabled: Bool
    /// Concurrent uploads of all blobs together past which a node (leader or follower) counts as
    /// over its cap, whatever its slots for the blob asked. Default 16.
    public var uploadLimit: Int

    /// The defaults, named once for the initialiser and the `ferry leader` flags.
    public static let defaultPeerSlots = 3
    public static let defaultLeaderSlots = 1
    public static let defaultUploadLimit = 16

    public init(
        peerSlots: Int = defaultPeerSlots, leaderSlots: Int = defaultLeaderSlots, peersEnabled: Bool = true,
        uploadLimit: Int = defaultUploadLimit
    ) {
        self.peerSlots = max(peerSlots, 1)
        self.leaderSlots = max(leaderSlots, 1)
        self.peersEnabled = peersEnabled
        self.uploadLimit = max(uploadLimit, 1)
    }

    /// Ranks `candidates` for `requester`, who holds `have` bytes of the blob.
    /// - Parameters:
    ///   - suspects: nodes that served bytes of this blob that failed verification; never chosen.
    ///   - feeds: for this blob, which source each receiving node is pulling from (to avoid cycles).
    ///   - roots: nodes known to hold the whole blob that are not among `candidates` (a pruned
    ///     list, see ``TrackerState``): chains of sources stop there too when hops are counted.
    public func rank(
        requester: String, have: Int64, candidates: [SourceCandidate], suspects: Set<String> = [], feeds: [String: String] = [:],
        roots: Set<String> = []
    ) -> [SourceCandidate] {
        let usable = candidates.filter { candidate in
            guard candidate.node != requester, !suspects.contains(candidate.node) else { return false }
            if candidate.kind == .peer {
                guard peersEnabled else { return false }
                if !candidate.complete {
                    guard candidate.bytes >= have, !Self.waitsOn(candidate.node, for: requester, feeds: feeds) else { return false }
                }
            }
            return true
        }
        func slots(_ candidate: SourceCandidate) -> Int { candidate.kind == .leader ? leaderSlots : peerSlots }
        func tier(_ candidate: SourceCandidate) -> Int {
            let free = candidate.activeUploads < slots(candidate) && candidate.totalUploads < uploadLimit
            switch (candidate.kind, candidate.complete, free) {
            case (.peer, true, true): return 0
            case (_, _, true): return 1
            case (.peer, _, false): return 2
            case (.leader, _, false): return 3
            }
        }
        let complete = Set(candidates.filter(\.complete).map(\.node)).union(roots)
        // Among sources with a free slot: a leader still fetching is the top of the tree; a leader
        // that has the whole blob comes after every peer, so it sends each blob about once.
        func depth(_ candidate: SourceCandidate) -> Int {
            if candidate.kind == .leader { return candidate.complete ? .max : 0 }
            return candidate.complete ? 0 : Self.depth(of: candidate.node, feeds: feeds, roots: complete)
        }
        return usable.sorted { a, b in
            let (ta, tb) = (tier(a), tier(b))
            if ta != tb { return ta < tb }
            if ta == 1 {
                let (da, db) = (depth(a), depth(b))
                if da != db { return da < db }
                if a.bytes != b.bytes { return a.bytes > b.bytes }
            }
            if a.activeUploads != b.activeUploads { return a.activeUploads < b.activeUploads }
            if a.complete != b.complete { return a.complete }
            return a.node < b.node
        }
    }

    /// Hops from `node` up its chain of sources to the leader or a complete node.
    static func depth(of node: String, feeds: [String: String], roots: Set<String>) -> Int {
        var hops = 1
        var current = node
        var seen: Set<String> = [node]
        while let source = feeds[current], source != "leader", !roots.contains(source), seen.insert(source).inserted {
            hops += 1
            current = source
        }
        return hops
    }

    /// Whether `node` is (directly or through others) pulling this blob from `requester`.
    static func waitsOn(_ node: String, for requester: String, feeds: [String: String]) -> Bool {
        var current = node
        var seen: Set<String> = [node]
        while let source = feeds[current] {
            if source == requester { return true }
            guard seen.insert(source).inserted else { return true }
            current = source
        }
        return false
    }
}
