import FerryCore
import FerryTestSupport
import Synchronization
import Testing

@Suite("Install target states and rules")
struct InstallRulesTests {
    @Test("allowed transitions", arguments: [
        (TargetState.waiting, TargetState.transferring, true),
        (.transferring, .ready, true),
        (.ready, .loading, true),
        (.loading, .done, true),
        (.waiting, .done, true),  // already in the engine
        (.waiting, .failed, true),
        (.transferring, .transferring, true),
        (.loading, .transferring, true),  // a node restarting the image
        (.loading, .ready, true),  // a load slot given back
        (.waiting, .ready, false),
        (.waiting, .loading, false),
        (.transferring, .loading, false),
        (.ready, .waiting, false),
        (.done, .transferring, false),
        (.done, .failed, false),
        (.failed, .done, false),
        (.failed, .transferring, false),
    ])
    func transitions(from: TargetState, to: TargetState, allowed: Bool) {
        #expect(from.canMove(to: to) == allowed)
    }

    @Test func loadSlots() {
        #expect(InstallRules.mayLoad(node: 1, loadingNodes: [], maxParallel: 1))
        #expect(!InstallRules.mayLoad(node: 2, loadingNodes: [1], maxParallel: 1))
        #expect(InstallRules.mayLoad(node: 1, loadingNodes: [1], maxParallel: 1), "a node loading one image may load the next")
        #expect(InstallRules.mayLoad(node: 3, loadingNodes: [1, 2], maxParallel: 3))
        #expect(!InstallRules.mayLoad(node: 3, loadingNodes: [1, 2], maxParallel: 2))
        #expect(InstallRules.mayLoad(node: 1, loadingNodes: [], maxParallel: 0), "a limit below one counts as one")
        #expect(!InstallRules.mayLoad(node: 2, loadingNodes: [1], maxParallel: 0))
    }

    @Test func outcome() {
        #expect(InstallRules.outcome(of: [.done, .loading]) == nil)
        #expect(InstallRules.outcome(of: [.done, .done])! == (true, false))
        #expect(InstallRules.outcome(of: [.done, .failed])! == (false, true))
        #expect(InstallRules.outcome(of: [])! == (true, false))
    }

    @Test func reachability() {
        let now = ContinuousClock.now
        #expect(InstallRules.isReachable(lastSeen: now - .seconds(14), now: now, heartbeat: .seconds(5)))
        #expect(!InstallRules.isReachable(lastSeen: now - .seconds(16), now: now, heartbeat: .seconds(5)))
        #expect(!InstallRules.isReachable(lastSeen: nil, now: now, heartbeat: .seconds(5)))
    }
}

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
