import FerryCore
import FerrySimulator
import Testing

/// The model against what the physics of one link or one bottleneck says.
@Suite("Simulator physics")
struct SimulatorPhysicsTests {
    @Test("one node takes the image over the upstream link, plus latency", arguments: [1, 4])
    func oneNode(upstreamParallel: Int) throws {
        var configuration = SimulationConfiguration.small(nodes: 1)
        configuration.upstreamParallel = upstreamParallel
        let result = try configuration.simulate()
        let limit = configuration.physicalLimit
        // Request round trip, `receiving` round trip, GET and chunk hops; the last chunk of each
        // blob crossing the node link.
        var slack = 2 * configuration.upstreamLatency + 6 * configuration.latency
            + Double(configuration.blobs) * Double(configuration.chunkSize) / Double(configuration.nodeRate) + 1e-6
        if upstreamParallel < configuration.blobs {
            // Blobs the leader has not started get no source: the follower asks again after a
            // backoff of at most 2 s (MeshFetcher).
            slack += 2
        }
        #expect(result.max >= limit)
        #expect(result.max <= limit + slack, "\(result.max) s vs \(limit) s + \(slack) s")
        #expect(result.bytesFromLeader == configuration.imageSize)
    }

    @Test("peers off, many nodes: the leader's uplink is the bottleneck")
    func leaderUplinkBottleneck() throws {
        let configuration = SimulationConfiguration.small(nodes: 40, peers: false)
        let result = try configuration.simulate()
        let uplinkTime = Double(configuration.nodes) * Double(configuration.imageSize) / Double(configuration.nodeRate)
        #expect(uplinkTime > configuration.physicalLimit * 3, "the test's premise")
        // The leader serves nothing before the first chunk of a blob has reached it (cut-through
        // is per chunk); after that its uplink never idles.
        let parallel = Double(min(configuration.upstreamParallel, configuration.blobs))
        let firstChunk = configuration.upstreamLatency + Double(configuration.chunkSize) * parallel / Double(configuration.upstreamRate)
        #expect(result.max >= uplinkTime + firstChunk)
        #expect(result.max <= uplinkTime + firstChunk + 0.01, "\(result.max) s vs first chunk + N × image / node rate = \(firstChunk + uplinkTime) s")
        #expect(result.bytesFromLeader == Int64(configuration.nodes) * configuration.imageSize)
        #expect(result.leaderPeakUploads == configuration.nodes * configuration.blobs)
    }

    @Test("peers off, few nodes: the upstream link is still the bottleneck")
    func upstreamBottleneckWithFewNodes() throws {
        let configuration = SimulationConfiguration.small(nodes: 5, peers: false)
        let result = try configuration.simulate()
        let uplinkTime = Double(configuration.nodes) * Double(configuration.imageSize) / Double(configuration.nodeRate)
        #expect(uplinkTime < configuration.physicalLimit, "the test's premise")
        // The blobs arrive side by side, so their last chunks reach the leader together, and
        // then cross its uplink once per follower: the only tail after the upstream download.
        let lastChunks = Double(configuration.nodes * configuration.blobs) * Double(configuration.chunkSize) / Double(configuration.nodeRate)
        let bound = configuration.physicalLimit + lastChunks + 0.01
        #expect(result.max <= bound, "\(result.max) s vs limit + last chunks = \(bound) s")
    }

    @Test("blobs the leader has not started get no source: followers ask again after MeshFetcher's backoff")
    func askAgainForBlobsNotStarted() throws {
        var configuration = SimulationConfiguration.small(nodes: 30, blobs: 8)
        configuration.upstreamParallel = 2
        let result = try configuration.simulate()
        #expect(result.emptyAnswers > 0)
        // A blob waits at most one full backoff (2 s) after the leader starts it.
        #expect(result.max <= configuration.physicalLimit + 2.1, "\(result.max) s")
        #expect(result.bytesFromLeader <= Int64(configuration.leaderSlots) * configuration.imageSize)
    }

    /// The tracker (slots per blob) with the default single leader slot and with two; the old
    /// tracker (slots per node) as it ran, with two.
    @Test(
        "with peers, the leader sends no more than its slots' worth, whatever N",
        arguments: [(SimulationConfiguration.SlotScope.blob, 1), (.blob, 2), (.node, 2)])
    func leaderSendsAtMostItsSlots(scope: SimulationConfiguration.SlotScope, leaderSlots: Int) throws {
        for (nodes, stagger) in [(10, 0.0), (200, 0.0), (200, 0.5), (200, 5.0)] {
            var configuration = SimulationConfiguration.small(nodes: nodes, scope: scope, stagger: stagger, jitter: 0.001)
            configuration.leaderSlots = leaderSlots
            let result = try configuration.simulate()
            let limit = Int64(configuration.leaderSlots) * configuration.imageSize
            #expect(result.bytesFromLeader <= limit, "N=\(nodes), stagger \(stagger) s: leader sent \(result.bytesFromLeader) B")
            #expect(result.bytesFromUpstream == configuration.imageSize)
        }
    }

    @Test("the same seed gives the same run; another seed, another order")
    func deterministic() throws {
        let configuration = SimulationConfiguration.small(nodes: 60, stagger: 0.2, jitter: 0.002, seed: 7)
        let first = try configuration.simulate()
        let second = try configuration.simulate()
        #expect(first == second)
        #expect(first.completionTimes == second.completionTimes)
        var other = configuration
        other.seed = 8
        #expect(try other.simulate().completionTimes != first.completionTimes)
    }

    @Test("later starts finish later: a follower starting after the leader completes still completes")
    func lateStarters() throws {
        let configuration = SimulationConfiguration.small(nodes: 50, stagger: 4, seed: 3)
        #expect(configuration.stagger > configuration.physicalLimit * 2, "the test's premise")
        let result = try configuration.simulate()
        #expect(result.max <= configuration.stagger + configuration.physicalLimit)
    }
}
