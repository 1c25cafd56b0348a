import FerryConcurrency
import FerryTestSupport
import Synchronization
import Testing

@Suite("ChangeSignal")
struct ChangeSignalTests {
    final class Flag: Sendable {
        private let value = Mutex(false)
        func set() { value.withLock { $0 = true } }
        var isSet: Bool { value.withLock { $0 } }
    }

    // The waits below have timeouts far longer than the tests' own deadlines, so that a wait can
    // only have ended early for the reason under test; the deadlines are generous (a machine whose
    // cooperative threads are all busy with other tests can hold a task back for a minute).

    @Test func aChangeBeforeTheWaitIsNotLost() async throws {
        let signal = ChangeSignal()
        let generation = signal.generation
        signal.notify()
        let returned = Flag()
        let waiter = Task {
            await signal.wait(after: generation, timeout: .seconds(3600))
            returned.set()
        }
        defer { waiter.cancel() }
        try await waitUntil("the wait returns without waiting for its timeout", timeout: .seconds(120)) { returned.isSet }
        #expect(signal.waiterCount == 0)
        #expect(signal.generation == generation + 1)
    }

    @Test func notifyWakesAWaiter() async throws {
        let signal = ChangeSignal()
        let generation = signal.generation
        let returned = Flag()
        // The waiter's own timeout is far longer than the test's: only the notify can end its wait.
        let waiter = Task {
            await signal.wait(after: generation, timeout: .seconds(3600))
            returned.set()
        }
        defer { waiter.cancel() }
        try await waitUntil("the waiter parks", timeout: .seconds(120)) { signal.waiterCount == 1 }
        signal.notify()
        try await waitUntil("one notify wakes the parked waiter", timeout: .seconds(120)) { returned.isSet }
        #expect(signal.waiterCount == 0)
        #expect(signal.generation == generation + 1)
    }

    @Test func waitTimesOutWithoutAChange() async {
        let signal = ChangeSignal()
        let elapsed = await ContinuousClock().measure {
            await signal.wait(after: signal.generation, timeout: .milliseconds(200))
        }
        #expect(elapsed >= .milliseconds(200), "returned after \(elapsed) without a change, before its timeout")
        #expect(signal.generation == 0)
        #expect(signal.waiterCount == 0, "the timed-out waiter left")
    }
}
