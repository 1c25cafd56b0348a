import Testing

@testable import FerryCoordinator

@Suite("EngineProbe")
struct EngineProbeTests {
    @Test("the last answer is kept between probes and while a probe is within its patience; a probe past it says the engine is not answering")
    func probe() {
        let probe = EngineProbe(patience: .seconds(5))
        let start = ContinuousClock.now
        #expect(probe.state(at: start) == nil, "no answer yet")
        probe.began(at: start)
        #expect(probe.state(at: start + .seconds(5)) == nil, "waiting, within its patience")
        #expect(probe.state(at: start + .seconds(6)) == .unreachable("the Docker engine has not answered /_ping for more than 5s"))
        probe.ended(.answers(version: "27.5.1"))
        #expect(probe.state(at: start + .seconds(60)) == .answers(version: "27.5.1"), "kept between probes")
        probe.began(at: start + .seconds(60))
        #expect(probe.state(at: start + .seconds(64)) == .answers(version: "27.5.1"), "a slow probe within its patience")
        #expect(probe.state(at: start + .seconds(70)) == .unreachable("the Docker engine has not answered /_ping for more than 5s"))
        probe.ended(.unreachable("timed out after 60s"))
        #expect(probe.state(at: start + .seconds(71)) == .unreachable("timed out after 60s"))
        probe.began(at: start + .seconds(71))
        #expect(
            probe.state(at: start + .seconds(90)) == .unreachable("timed out after 60s"),
            "an engine already unreachable keeps its reason while the next probe waits (one log line, not two a minute)")
    }
}
