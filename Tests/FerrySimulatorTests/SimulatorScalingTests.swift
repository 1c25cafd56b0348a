import FerryCore
import FerryPolicy
import FerrySimulator
import Testing

/// The target: with peers on, completion time grows no faster than log N.
// Serialized: each test runs a long synchronous simulation on a cooperative thread; two at once would
// hold both of a 2-core machine's threads and stall every other suite running beside them.
@Suite("Simulator scaling", .serialized)
struct SimulatorScalingTests {
    /// Depth of a tree with `leaderSlots` children under the leader and `peerSlots` under each
    /// follower, holding `nodes` followers: what the selector's documentation promises.
    static func treeDepth(_ configuration: SimulationConfiguration) -> Int {
        var depth = 1
        var width = configuration.leaderSlots
        var placed = width
        while placed < configuration.nodes {
            width *= configuration.peerSlots
            placed += width
            depth += 1
        }
        return depth
    }

    @Test("the simulator's defaults are the tracker's: slots per blob, receivers listed at assignment")
    func defaultsFollowTheTracker() {
        let configuration = SimulationConfiguration(nodes: 10)
        #expect(configuration.slotScope == .blob)
        #expect(configuration.receivingKnown == .assignment)
        #expect(configuration.selector == SourceSelector())
    }

    @Test("slots per blob: 1,000 nodes finish within a small factor of 10, in a tree of logarithmic depth")
    func perBlobSlotsScaleLogarithmically() throws {
        let small = try SimulationConfiguration.small(nodes: 10, scope: .blob).simulate()
        let configuration = SimulationConfiguration.small(nodes: 1000, scope: .blob)
        let large = try configuration.simulate()
        #expect(large.max <= small.max * 1.25, "N=1000: \(large.max) s, N=10: \(small.max) s")
        #expect(large.maxTreeDepth <= Self.treeDepth(configuration), "depth \(large.maxTreeDepth)")
        #expect(large.overCapAssignments == 0)
    }

    @Test("as many blobs as peer slots or more, all followers at once: the tracker's per-blob trees stay logarithmic")
    func manyBlobsStillATree() throws {
        let small = try SimulationConfiguration.small(nodes: 10).simulate()
        let configuration = SimulationConfiguration.small(nodes: 300)
        #expect(configuration.blobs >= configuration.peerSlots, "the case that chained the followers with slots per node")
        let large = try configuration.simulate()
        #expect(large.max <= small.max * 1.25, "N=300: \(large.max) s, N=10: \(small.max) s")
        #expect(large.maxTreeDepth <= Self.treeDepth(configuration), "depth \(large.maxTreeDepth)")
    }

    @Test("the upload limit bounds the streams a node serves, and the trees stay logarithmic")
    func uploadLimitBoundsStreams() throws {
        let unbounded = try SimulationConfiguration.small(nodes: 300, blobs: 8, uploadLimit: 1000).simulate()
        #expect(unbounded.peerPeakUploads > 6, "without a limit, a peer serves 3 receivers of each blob it is ahead on")
        let configuration = SimulationConfiguration.small(nodes: 300, blobs: 8, uploadLimit: 6)
        let result = try configuration.simulate()
        #expect(result.peerPeakUploads <= 6, "peak \(result.peerPeakUploads)")
        let small = try SimulationConfiguration.small(nodes: 10, blobs: 8, uploadLimit: 6).simulate()
        #expect(result.max <= small.max * 1.25, "N=300: \(result.max) s, N=10: \(small.max) s")
    }

    @Test("for comparison, the old tracker's slots per node with blobs ≥ peer slots: the tree collapses into a chain")
    func perNodeSlotsChainTheFollowers() throws {
        let configuration = SimulationConfiguration.small(nodes: 300, scope: .node)
        let large = try configuration.simulate()
        // One chain, one hop per follower: linear, what the per-blob count fixed.
        #expect(large.maxTreeDepth == configuration.nodes)
        let fixed = try SimulationConfiguration.small(nodes: 300, scope: .blob).simulate()
        #expect(fixed.max < large.max)
    }

    @Test("for comparison, slots per node and fewer blobs than peer slots: still a tree")
    func perNodeSlotsWithFewBlobs() throws {
        let configuration = SimulationConfiguration.small(nodes: 300, scope: .node, blobs: 2)
        let large = try configuration.simulate()
        let small = try SimulationConfiguration.small(nodes: 10, scope: .node, blobs: 2).simulate()
        #expect(large.max <= small.max * 1.25, "N=300: \(large.max) s, N=10: \(small.max) s")
        #expect(large.maxTreeDepth <= 16, "depth \(large.maxTreeDepth): base 1.5 rather than 3, but logarithmic")
    }

    @Test("receivers listed at assignment: a simultaneous first wave sees peers, and the leader sends its slots' worth")
    func receiversKnownAtAssignment() throws {
        let configuration = SimulationConfiguration.small(nodes: 40)
        let result = try configuration.simulate()
        #expect(result.bytesFromLeader <= Int64(configuration.leaderSlots) * configuration.imageSize)
        #expect(result.leaderAssignments <= configuration.leaderSlots * configuration.blobs)
    }

    @Test("for comparison, receivers listed only once they report: the simultaneous first wave all goes to the leader")
    func receiversKnownOnlyByReport() throws {
        let configuration = SimulationConfiguration.small(nodes: 40, knowledge: .report)
        let result = try configuration.simulate()
        // All 40 requests reach the tracker before any `receiving` report: only the leader is a candidate.
        #expect(result.leaderAssignments == configuration.nodes * configuration.blobs)
        #expect(result.bytesFromLeader == Int64(configuration.nodes) * configuration.imageSize)
        // Starts spread wider than a report's round trip avoid it too.
        var spread = configuration
        spread.stagger = 0.5
        #expect(try spread.simulate().bytesFromLeader <= Int64(configuration.leaderSlots) * configuration.imageSize)
    }
}
