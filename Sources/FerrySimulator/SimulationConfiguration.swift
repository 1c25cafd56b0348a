import FerryCore
import FerryPolicy

/// Everything a simulated install depends on. Sizes are bytes, rates bytes per second, times
/// seconds of simulated time.
public struct SimulationConfiguration: Sendable, Hashable, Codable {
    /// Followers that install the image (the leader comes in addition).
    public var nodes: Int
    /// Total size of the image's blobs.
    public var imageSize: Int64
    /// Blobs the image is split into, of equal size (the last one takes the remainder).
    public var blobs: Int
    /// Unit of cut-through: a node serves a chunk of a blob it is receiving once the whole chunk
    /// has arrived (the store flushes received bytes in 1 MiB writes).
    public var chunkSize: Int64
    /// The leader's link to the upstream registry.
    public var upstreamRate: Int64
    /// Every node's uplink and, separately, its downlink (full duplex); the leader's too.
    public var nodeRate: Int64
    /// One-way delay of one hop inside the cluster.
    public var latency: Double
    /// Each node adds a delay drawn uniformly from `[0, latencyJitter)` to its hops (half on
    /// each end of a hop): a spread of distances.
    public var latencyJitter: Double
    /// One-way delay between the leader and the upstream registry.
    public var upstreamLatency: Double
    /// Followers start (send their source requests) at times drawn uniformly from `[0, stagger)`.
    public var stagger: Double
    /// ``SourceSelector/peerSlots``.
    public var peerSlots: Int
    /// ``SourceSelector/leaderSlots``.
    public var leaderSlots: Int
    /// ``SourceSelector/peersEnabled``.
    public var peersEnabled: Bool
    /// Blobs the leader downloads from upstream at once (the leader's `maxConcurrentDownloadsPerRegistry`).
    public var upstreamParallel: Int
    /// ``SourceSelector/uploadLimit``.
    public var uploadLimit: Int
    /// What a candidate's `activeUploads` counts (`Tracker` counts per blob).
    public var slotScope: SlotScope
    /// When the tracker starts listing a node as receiving a blob.
    public var receivingKnown: ReceivingKnowledge
    /// How the candidate list handed to ``SourceSelector`` is built.
    public var trackerView: TrackerView
    /// Seed of the only random generator (start times, latency spread, order of simultaneous requests).
    public var seed: UInt64

    /// What `activeUploads` of a ``SourceCandidate`` counts.
    public enum SlotScope: String, Sendable, Hashable, Codable, CaseIterable {
        /// Every transfer the node serves now, whatever the blob (the uplink is the node's). What
        /// `Tracker` did before it counted per blob: kept for comparison.
        case node
        /// Only the transfers of the blob being asked for. What `Tracker` does.
        case blob
    }

    /// When the tracker learns that a node is receiving a blob (and lists it as a candidate).
    public enum ReceivingKnowledge: String, Sendable, Hashable, Codable, CaseIterable {
        /// As soon as it assigns the node a source. What `Tracker` does.
        case assignment
        /// When the node's `receiving` event arrives: the follower sends it as soon as it has the
        /// tracker's answer (`MeshFetcher`), so one round trip after the assignment. What
        /// `Tracker` did before it listed receivers at assignment: kept for comparison.
        case report
    }

    /// The candidate list handed to ``SourceSelector/rank(requester:have:candidates:suspects:feeds:)``.
    public enum TrackerView: String, Sendable, Hashable, Codable, CaseIterable {
        /// Every node holding or receiving the blob, as a tracker would list them. Slow at scale.
        case full
        /// Only candidates no other candidate beats on every count (uploads, hops, bytes, name),
        /// plus the complete nodes their chains stop at: the same first choice, far fewer candidates.
        case pruned
        /// Pruned, and every choice checked against the full list (mismatches are counted).
        case checked
    }

    /// A configuration; the defaults are those of `ferry-sim`.
    public init(
        nodes: Int,
        imageSize: Int64 = 200 * 1024 * 1024,
        blobs: Int = 4,
        chunkSize: Int64 = 1024 * 1024,
        upstreamRate: Int64 = 12_500_000,
        nodeRate: Int64 = 125_000_000,
        latency: Double = 0.0005,
        latencyJitter: Double = 0,
        upstreamLatency: Double? = nil,
        stagger: Double = 0,
        peerSlots: Int = 3,
        leaderSlots: Int = 1,
        peersEnabled: Bool = true,
        upstreamParallel: Int = 4,
        uploadLimit: Int = 16,
        slotScope: SlotScope = .blob,
        receivingKnown: ReceivingKnowledge = .assignment,
        trackerView: TrackerView = .pruned,
        seed: UInt64 = 1
    ) {
        self.nodes = nodes
        self.imageSize = imageSize
        self.blobs = blobs
        self.chunkSize = chunkSize
        self.upstreamRate = upstreamRate
        self.nodeRate = nodeRate
        self.latency = latency
        self.latencyJitter = latencyJitter
        self.upstreamLatency = upstreamLatency ?? latency
        self.stagger = stagger
        self.peerSlots = peerSlots
        self.leaderSlots = leaderSlots
        self.peersEnabled = peersEnabled
        self.upstreamParallel = upstreamParallel
        self.uploadLimit = uploadLimit
        self.slotScope = slotScope
        self.receivingKnown = receivingKnown
        self.trackerView = trackerView
        self.seed = seed
    }

    /// The selector the simulated tracker runs.
    public var selector: SourceSelector {
        SourceSelector(peerSlots: peerSlots, leaderSlots: leaderSlots, peersEnabled: peersEnabled, uploadLimit: uploadLimit)
    }

    /// The time one node needs to download the image once over the upstream link: no install
    /// can finish sooner.
    public var physicalLimit: Double { Double(imageSize) / Double(upstreamRate) }

    /// Checks the values make a runnable simulation.
    public func validate() throws(FerryError) {
        func require(_ condition: Bool, _ message: String) throws(FerryError) {
            if !condition { throw FerryError(.invalidArgument, message) }
        }
        try require(nodes >= 1, "nodes must be at least 1")
        try require(blobs >= 1, "blobs must be at least 1")
        try require(imageSize >= Int64(blobs), "the image must have at least one byte per blob")
        try require(chunkSize >= 1, "the chunk size must be at least one byte")
        try require(upstreamRate > 0 && nodeRate > 0, "rates must be above zero")
        try require(latency >= 0 && latencyJitter >= 0 && upstreamLatency >= 0 && stagger >= 0, "times cannot be negative")
        try require(latency.isFinite && latencyJitter.isFinite && upstreamLatency.isFinite && stagger.isFinite, "times must be finite")
        try require(peerSlots >= 1 && leaderSlots >= 1 && uploadLimit >= 1, "slots and the upload limit must be at least 1")
        try require(upstreamParallel >= 1, "upstream parallelism must be at least 1")
        try require(nodes <= 1_000_000, "at most 1,000,000 nodes")
        try require((imageSize / Int64(blobs)) / chunkSize < Int64(Int32.max), "too many chunks per blob")
    }
}
