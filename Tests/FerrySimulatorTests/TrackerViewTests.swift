import FerryCore
import FerrySimulator
import Testing

/// The pruned candidate list is an optimisation: it must never change the selector's choice.
@Suite("Tracker view")
struct TrackerViewTests {
    static let cases: [SimulationConfiguration] = [
        .small(nodes: 120, scope: .node),
        .small(nodes: 120, scope: .blob),
        .small(nodes: 120, scope: .node, stagger: 0.3, jitter: 0.002, seed: 2),
        .small(nodes: 120, scope: .blob, stagger: 2, jitter: 0.002, seed: 3),
        .small(nodes: 120, scope: .node, knowledge: .report, stagger: 0.2, seed: 4),
        .small(nodes: 120, scope: .blob, knowledge: .report, stagger: 1, blobs: 7, seed: 5),
        .small(nodes: 120, scope: .node, stagger: 3, blobs: 2, seed: 6),
        .small(nodes: 60, peers: false, stagger: 0.1, seed: 7),
        // The node-wide upload limit binding (8 blobs × 3 slots > 10).
        .small(nodes: 120, scope: .blob, blobs: 8, uploadLimit: 10, seed: 8),
        .small(nodes: 120, scope: .blob, stagger: 0.5, jitter: 0.002, blobs: 8, uploadLimit: 5, seed: 9),
    ]

    @Test("pruned and full views choose the same source on every request", arguments: cases)
    func prunedMatchesFull(configuration: SimulationConfiguration) throws {
        var checked = configuration
        checked.trackerView = .checked
        let result = try checked.simulate()
        #expect(result.trackerMismatches == 0)

        var full = configuration
        full.trackerView = .full
        let fullResult = try full.simulate()
        #expect(fullResult.completionTimes == result.completionTimes)
        #expect(fullResult.maxTreeDepth == result.maxTreeDepth)
        #expect(fullResult.candidatesRanked >= result.candidatesRanked)
    }
}
