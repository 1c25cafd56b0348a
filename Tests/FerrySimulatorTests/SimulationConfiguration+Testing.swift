import FerryCore
import FerrySimulator
import Testing

extension SimulationConfiguration {
    static let mebibyte: Int64 = 1024 * 1024

    /// A small image (16 MiB in 4 blobs, 512 KiB chunks) over 100 Mbit/s upstream and 1 Gbit/s
    /// node links: quick to simulate in a debug build, same shape as the defaults.
    static func small(
        nodes: Int, peers: Bool = true, scope: SlotScope = .blob, knowledge: ReceivingKnowledge = .assignment,
        stagger: Double = 0, jitter: Double = 0, blobs: Int = 4, uploadLimit: Int = 16, seed: UInt64 = 1
    ) -> SimulationConfiguration {
        SimulationConfiguration(
            nodes: nodes, imageSize: 16 * mebibyte, blobs: blobs, chunkSize: mebibyte / 2, upstreamRate: 12_500_000,
            nodeRate: 125_000_000, latency: 0.0005, latencyJitter: jitter, stagger: stagger, peersEnabled: peers,
            uploadLimit: uploadLimit, slotScope: scope, receivingKnown: knowledge, seed: seed)
    }

    /// Runs the simulation and checks what every run must satisfy.
    func simulate(sourceLocation: SourceLocation = #_sourceLocation) throws -> SimulationResult {
        let result = try Simulator(self).run()
        #expect(result.completed == nodes, "every follower completes", sourceLocation: sourceLocation)
        #expect(result.completionTimes.allSatisfy { $0 >= physicalLimit }, "nobody beats the upstream link", sourceLocation: sourceLocation)
        #expect(result.bytesFromUpstream == imageSize, "fetched once from upstream", sourceLocation: sourceLocation)
        #expect(
            result.bytesFromLeader + result.bytesFromPeers == Int64(nodes) * imageSize, "each follower receives each byte once",
            sourceLocation: sourceLocation)
        #expect(result.p50 <= result.p99 && result.p99 <= result.max, sourceLocation: sourceLocation)
        #expect(result.trackerMismatches == 0, "the pruned tracker view chose as the full one", sourceLocation: sourceLocation)
        if !peersEnabled {
            #expect(result.bytesFromPeers == 0 && result.maxTreeDepth == 1, "peers off: all from the leader", sourceLocation: sourceLocation)
        }
        return result
    }
}
