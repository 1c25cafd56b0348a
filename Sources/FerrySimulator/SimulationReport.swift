/// Results of several runs (one per cluster size, with peers on or off), and how completion time
/// grows with the cluster's size.
public struct SimulationReport: Sendable, Hashable, Codable {
    /// How one completion statistic grows with N over the runs that share a setting.
    public struct Growth: Sendable, Hashable, Codable {
        /// `p50` or `max`.
        public var statistic: String
        public var peersEnabled: Bool
        public var log2: GrowthFit
        public var linear: GrowthFit
    }

    public var results: [SimulationResult]
    /// Fits of p50 and max against log2 N and N, for each peers setting with at least two sizes.
    public var growth: [Growth]

    /// A report on `results`, fitting growth where there are enough sizes.
    public init(results: [SimulationResult]) {
        self.results = results
        var growth: [Growth] = []
        for peers in [true, false] {
            let runs = results.filter { $0.configuration.peersEnabled == peers }
            let nodes = runs.map(\.configuration.nodes)
            for (statistic, times) in [("p50", runs.map(\.p50)), ("max", runs.map(\.max))] {
                guard let log2 = GrowthFit(nodes: nodes, times: times, scale: .log2),
                    let linear = GrowthFit(nodes: nodes, times: times, scale: .linear)
                else { continue }
                growth.append(Growth(statistic: statistic, peersEnabled: peers, log2: log2, linear: linear))
            }
        }
        self.growth = growth
    }
}
