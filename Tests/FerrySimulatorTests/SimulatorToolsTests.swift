import FerryPolicy
import Foundation
import FerryCore
import FerrySimulator
import Testing

@Suite("Simulator tools")
struct SimulatorToolsTests {
    @Test("SplitMix64 matches the reference sequence")
    func splitMix() {
        var generator = SplitMix64(seed: 0)
        #expect(generator.next() == 0xE220_A839_7B1D_CDAF)
        #expect(generator.next() == 0x6E78_9E6A_A1B9_65F4)
        var unit = SplitMix64(seed: 42)
        for _ in 0..<1000 {
            let value = unit.nextUnit()
            #expect(value >= 0 && value < 1)
        }
    }

    @Test("durations", arguments: [("0.5ms", 0.0005), ("20 ms", 0.02), ("1.5s", 1.5), ("2", 2), ("250us", 0.00025), ("0", 0), ("1min", 60)])
    func durations(_ text: String, _ seconds: Double) throws {
        #expect(abs(try SimulationConfiguration.parseDuration(text) - seconds) < 1e-12)
    }

    @Test("bad durations are refused", arguments: ["", "ms", "-1ms", "5 parsecs", "1..2s"])
    func badDurations(_ text: String) {
        #expect(throws: FerryError.self) { try SimulationConfiguration.parseDuration(text) }
    }

    @Test("node counts")
    func nodeCounts() throws {
        #expect(try SimulationConfiguration.parseNodeCounts("10,100,1000,10000") == [10, 100, 1000, 10000])
        #expect(try SimulationConfiguration.parseNodeCounts(" 10 , 10_000, 2k") == [10, 10000, 2000])
        #expect(throws: FerryError.self) { try SimulationConfiguration.parseNodeCounts("10,0") }
        #expect(throws: FerryError.self) { try SimulationConfiguration.parseNodeCounts("ten") }
        #expect(throws: FerryError.self) { try SimulationConfiguration.parseNodeCounts("") }
    }

    @Test("invalid configurations are refused")
    func validation() {
        #expect(throws: FerryError.self) { try Simulator(SimulationConfiguration(nodes: 0)) }
        #expect(throws: FerryError.self) { try Simulator(SimulationConfiguration(nodes: 5, blobs: 0)) }
        #expect(throws: FerryError.self) { try Simulator(SimulationConfiguration(nodes: 5, latency: -1)) }
    }

    @Test("nearest-rank percentiles")
    func percentiles() {
        let values = (1...100).map(Double.init)
        #expect(SimulationResult.percentile(0.5, of: values) == 50)
        #expect(SimulationResult.percentile(0.99, of: values) == 99)
        #expect(SimulationResult.percentile(1, of: values) == 100)
        #expect(SimulationResult.percentile(0.5, of: [3]) == 3)
        #expect(SimulationResult.percentile(0.5, of: []) == 0)
    }

    @Test("growth fits recover a logarithm and a line")
    func growthFits() throws {
        let nodes = [10, 100, 1000, 10000]
        let logarithmic = nodes.map { 16.8 + 0.05 * Foundation.log2(Double($0)) }
        let fit = try #require(GrowthFit(nodes: nodes, times: logarithmic, scale: .log2))
        #expect(abs(fit.slope - 0.05) < 1e-9 && abs(fit.intercept - 16.8) < 1e-9)
        #expect(try #require(fit.rSquared) > 0.999_999)
        #expect(abs(fit.predict(1024) - (16.8 + 0.5)) < 1e-9)
        let linear = try #require(GrowthFit(nodes: nodes, times: nodes.map { 2 + 0.01 * Double($0) }, scale: .linear))
        #expect(abs(linear.slope - 0.01) < 1e-12)
        #expect(GrowthFit(nodes: [10, 10], times: [1, 2], scale: .log2) == nil)
        #expect(GrowthFit(nodes: [10, 100], times: [1, 2], scale: .log2)?.rSquared == nil)
    }

    @Test("the markdown section carries the table, the fits and the assumptions")
    func markdown() throws {
        let results = try [10, 40, 160].map { try SimulationConfiguration.small(nodes: $0).simulate() }
        let text = SimulationReport(results: results).markdown(heading: "Test run")
        #expect(text.hasPrefix("## Test run\n"))
        #expect(text.contains("| 160 | on |"))
        #expect(text.contains("× log2 N"))
        #expect(text.contains("Model assumptions:"))
    }
}
