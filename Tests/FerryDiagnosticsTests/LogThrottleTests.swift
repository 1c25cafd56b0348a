import FerryDiagnostics
import Testing

@Suite("LogThrottle")
struct LogThrottleTests {
    @Test("one line of a kind per interval, counting those kept silent; kinds apart")
    func throttles() {
        let throttle = LogThrottle(interval: .seconds(30))
        let start = ContinuousClock.now
        #expect(throttle.admit("full", now: start) == 0)
        #expect(throttle.admit("full", now: start + .seconds(1)) == nil)
        #expect(throttle.admit("full", now: start + .seconds(29)) == nil)
        #expect(throttle.admit("other", now: start + .seconds(2)) == 0, "another kind has its own interval")
        #expect(throttle.admit("full", now: start + .seconds(30)) == 2, "the next line says two recurred")
        #expect(throttle.admit("full", now: start + .seconds(31)) == nil)
        #expect(throttle.admit("full", now: start + .seconds(90)) == 1)
    }
}
