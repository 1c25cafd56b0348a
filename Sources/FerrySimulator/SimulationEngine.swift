import FerryCore
import FerryPolicy

/// The state of one simulated install, advanced event by event.
///
/// Nodes are indices: 0 is the upstream registry, 1 the leader, `2...` the followers. Per-blob
/// state of a node lives in flat arrays at `node * blobCount + blob`.
struct SimulationEngine {
    /// One blob travelling from a source to a receiver, chunk by chunk.
    struct Flow {
        enum Status: UInt8 {
            /// The `GET` has not reached the source yet.
            case pending
            /// Sending a chunk now, at `rate`.
            case active
            /// Waiting for the source to receive the next chunk (cut-through).
            case stalled
            /// Every chunk sent.
            case done
        }

        var source: Int32
        var receiver: Int32
        var blob: Int32
        /// One-way delay from source to receiver.
        var latency: Double
        /// The chunk being sent (or to send next).
        var nextChunk: Int32 = 0
        var status: Status = .pending
        /// Bytes of the current chunk still to send, as of `updated`.
        var remaining: Double = 0
        var rate: Double = 0
        var updated: Double = 0
        /// Bumped whenever the chunk's finish time changes, so superseded timers are skipped.
        var version: UInt32 = 0
        /// Positions in the sender's `activeUp` and the receiver's `activeDown` while active.
        var upPosition: Int32 = -1
        var downPosition: Int32 = -1
    }

    static let upstream: Int32 = 0
    static let leader: Int32 = 1
    static let firstFollower: Int32 = 2

    let configuration: SimulationConfiguration
    let selector: SourceSelector
    let blobCount: Int
    let blobSizes: [Int64]
    let chunkCounts: [Int32]
    /// Names as the tracker knows them: `leader` and zero-padded `node-…` (so that name order is index order).
    let names: [String]
    let indexOfName: [String: Int32]
    let uplink: [Double]
    let downlink: [Double]
    /// Each node's share of the latency spread.
    let jitter: [Double]

    var now = 0.0
    var queue: EventQueue
    var flows: [Flow] = []
    /// Chunks of each blob that have arrived at each node.
    var have: [Int32]
    /// Transfers sending right now, per sending node and per receiving node.
    var activeUp: [[Int32]]
    var activeDown: [[Int32]]
    /// Stalled transfers per (source, blob), woken when the source receives its next chunk.
    var waiting: [[Int32]]
    /// Nodes whose sending (or receiving) set changed at this instant: their flows get new
    /// shares once every event of the instant has run.
    var dirtySenders: [Int32] = []
    var dirtyReceivers: [Int32] = []
    var senderDirty: [Bool]
    var receiverDirty: [Bool]
    /// The leader's tracker, as the leader runs it (FerryPolicy).
    var tracker: TrackerState
    /// The digest the tracker knows each blob by.
    let digests: [Digest]
    /// Whether a follower has asked for a blob, per (follower, blob).
    var requested: [Bool]
    /// Hops from the leader per (follower, blob).
    var hops: [Int32]
    var peakUploads: [Int32]
    var blobsDone: [Int32]
    /// Per follower; -1 until it holds every blob.
    var completion: [Double]
    var bytesSent: [Int64]
    /// The next blob the leader starts downloading from upstream.
    var nextUpstreamBlob = 0

    var eventCount = 0
    var candidatesRanked = 0
    var trackerMismatches = 0
    var overCapAssignments = 0
    var leaderAssignments = 0
    /// Requests answered with no source (the leader had not started the blob).
    var emptyAnswers = 0

    init(_ configuration: SimulationConfiguration) {
        self.configuration = configuration
        selector = configuration.selector
        let blobCount = configuration.blobs
        self.blobCount = blobCount
        let base = configuration.imageSize / Int64(blobCount)
        blobSizes = (0..<blobCount).map { $0 == blobCount - 1 ? configuration.imageSize - base * Int64(blobCount - 1) : base }
        chunkCounts = blobSizes.map { Int32(($0 + configuration.chunkSize - 1) / configuration.chunkSize) }

        let followers = configuration.nodes
        let nodeCount = followers + 2
        let width = String(max(followers - 1, 0)).count
        var names = ["upstream", "leader"]
        names.reserveCapacity(nodeCount)
        for index in 0..<followers {
            let digits = String(index)
            names.append("node-" + String(repeating: "0", count: width - digits.count) + digits)
        }
        self.names = names
        var indexOfName: [String: Int32] = [:]
        indexOfName.reserveCapacity(nodeCount)
        for (index, name) in names.enumerated() { indexOfName[name] = Int32(index) }
        self.indexOfName = indexOfName

        let nodeRate = Double(configuration.nodeRate)
        uplink = [Double(configuration.upstreamRate)] + Array(repeating: nodeRate, count: nodeCount - 1)
        downlink = [.infinity] + Array(repeating: nodeRate, count: nodeCount - 1)

        var random = SplitMix64(seed: configuration.seed)
        jitter = [0] + (1..<nodeCount).map { _ in configuration.latencyJitter * random.nextUnit() }
        let starts = (0..<followers).map { _ in configuration.stagger * random.nextUnit() }
        var order = Array(0..<followers)
        if followers > 1 {
            for index in stride(from: followers - 1, to: 0, by: -1) {
                order.swapAt(index, Int(random.next() % UInt64(index + 1)))
            }
        }

        let slots = nodeCount * blobCount
        queue = EventQueue(capacity: 64 + followers * blobCount * 4)
        have = Array(repeating: 0, count: slots)
        for blob in 0..<blobCount { have[blob] = chunkCounts[blob] }  // upstream holds everything
        activeUp = Array(repeating: [], count: nodeCount)
        activeDown = Array(repeating: [], count: nodeCount)
        waiting = Array(repeating: [], count: slots)
        senderDirty = Array(repeating: false, count: nodeCount)
        receiverDirty = Array(repeating: false, count: nodeCount)
        tracker = TrackerState(
            selector: configuration.selector,
            model: .init(slotsPerBlob: configuration.slotScope == .blob, receiversAtAssignment: configuration.receivingKnown == .assignment))
        for name in names.dropFirst(2) { tracker.register(name) }  // in name order, as a cluster joins
        digests = (0..<blobCount).map { Digest.sha256(of: Array("simulated blob \($0)".utf8)) }
        requested = Array(repeating: false, count: slots)
        hops = Array(repeating: 0, count: slots)
        peakUploads = Array(repeating: 0, count: nodeCount)
        blobsDone = Array(repeating: 0, count: nodeCount)
        completion = Array(repeating: -1, count: followers)
        bytesSent = Array(repeating: 0, count: nodeCount)
        flows.reserveCapacity(followers * blobCount + blobCount)

        // Requests in shuffled order: simultaneous ones reach the tracker in that order.
        for index in order {
            let node = Self.firstFollower + Int32(index)
            queue.push(starts[index] + latency(node, Self.leader), .request, node)
        }
        while nextUpstreamBlob < min(configuration.upstreamParallel, blobCount) {
            startUpstream()
        }
    }

    /// One-way delay between two nodes.
    func latency(_ a: Int32, _ b: Int32) -> Double {
        if a == Self.upstream || b == Self.upstream { return configuration.upstreamLatency }
        return configuration.latency + (jitter[Int(a)] + jitter[Int(b)]) / 2
    }

    func slot(_ node: Int32, _ blob: Int32) -> Int { Int(node) * blobCount + Int(blob) }

    func chunkBytes(_ blob: Int32, _ chunk: Int32) -> Int64 {
        let size = blobSizes[Int(blob)]
        return chunk < chunkCounts[Int(blob)] - 1 ? configuration.chunkSize : size - configuration.chunkSize * Int64(chunk)
    }

    /// Runs every event; returns the measurements.
    mutating func run() -> SimulationResult {
        while let event = queue.pop() {
            eventCount += 1
            now = event.time
            switch event.kind {
            case .request: handleRequest(event.subject)
            case .retry: handleRetry(event.subject, aux: event.aux)
            case .begin: handleBegin(event.subject)
            case .sent: handleSent(event.subject, version: event.aux)
            case .arrive: handleArrive(event.subject, chunk: Int32(event.aux))
            case .receivingKnown: handleReceivingKnown(event.subject)
            case .presentKnown: handlePresentKnown(event.subject)
            }
            if queue.nextTime != now { reshare() }
        }
        return result()
    }
}
