import FerryConcurrency
import FerryTestSupport
import Synchronization
import Testing

@testable import FerryCoordinator

/// A serial download hands its registry's slots on near its end and its receiving turn at its
/// last byte; nothing is given back twice.
@Suite("SerialPermits", .timeLimit(.minutes(5)))
struct SerialPermitsTests {
    /// A clock the test moves.
    final class Clock: Sendable {
        let start = ContinuousClock.now
        private let offset = Mutex(Duration.zero)
        func advance(_ by: Duration) { offset.withLock { $0 += by } }
        var now: ContinuousClock.Instant { start + offset.withLock { $0 } }
    }

    static let mib: Int64 = 1024 * 1024

    /// A registry's slots (2) and turn, and serial downloads of `size` bytes on them.
    struct Registry {
        let slots = AsyncSemaphore(limit: 2)
        let turn = AsyncSemaphore(limit: 1)
        let clock = Clock()

        func serial(_ size: Int64) -> SerialPermits {
            SerialPermits(slots, permits: 2, serial: (size, turn), now: { [clock] in clock.now })
        }
    }

    /// A task that notes when it got past its step.
    final class Noted: Sendable {
        private let passed = Mutex(false)
        private let task = Mutex<Task<Void, any Error>?>(nil)

        init(_ step: @escaping @Sendable () async throws -> Void) {
            let started = Task { [self] in
                try await step()
                passed.withLock { $0 = true }
            }
            task.withLock { $0 = started }
        }

        var done: Bool { passed.withLock { $0 } }
        var value: Void { get async throws { try await task.withLock { $0 }?.value } }
    }

    @Test("the next download starts in this one's last second, receives from its last byte, and slots and turn come back once")
    func handsOnAtTheTail() async throws {
        let mib = Self.mib
        let registry = Registry()
        let first = registry.serial(100 * mib)
        try await first.beginAttempt()
        try await first.awaitTurn()
        let second = registry.serial(100 * mib)
        let started = Noted { try await second.beginAttempt() }
        try await waitUntil("the next download waits for the slots") { registry.slots.waiterCount == 1 }
        #expect(!first.record(0))
        registry.clock.advance(.seconds(5))
        #expect(!first.record(50 * mib), "5 s left at 10 MiB/s")
        #expect(!started.done)
        registry.clock.advance(.seconds(4))
        #expect(first.record(90 * mib), "1 s left at 10 MiB/s")
        try await started.value
        // Its request is answered: its body waits until the first holds every byte.
        let receiving = Noted { try await second.awaitTurn() }
        try await waitUntil("the next body waits for its turn") { registry.turn.waiterCount == 1 }
        #expect(!first.record(99 * mib), "slots handed on once")
        #expect(!receiving.done)
        #expect(!first.record(100 * mib), "every byte: the turn passes, the slots are not handed on again")
        try await receiving.value
        // The first's end gives nothing back a second time: the second holds both slots and the
        // turn, so a third waits for each until the second gives them back.
        first.release()
        let third = Noted { try await registry.slots.acquire(1) }
        let thirdTurn = Noted { try await registry.turn.acquire(1) }
        try await waitUntil("a third waits for a slot and for the turn") { registry.slots.waiterCount == 1 && registry.turn.waiterCount == 1 }
        #expect(!third.done && !thirdTurn.done)
        second.release()
        try await third.value
        try await thirdTurn.value
        registry.slots.release(1)
        registry.turn.release(1)
    }

    @Test("an attempt after the hand-off (bad bytes) goes ahead of the queue for the slots and the turn, and measures anew")
    func retryGoesAhead() async throws {
        let mib = Self.mib
        let registry = Registry()
        let first = registry.serial(10 * mib)
        try await first.beginAttempt()
        try await first.awaitTurn()
        #expect(first.record(10 * mib), "every byte held: hands on at once")
        let second = registry.serial(10 * mib)
        try await second.beginAttempt()
        try await second.awaitTurn()
        // A third waits for the slots behind; the first's bytes were bad: it asks again.
        let third = registry.serial(10 * mib)
        let queued = Noted { try await third.beginAttempt() }
        try await waitUntil("a third download waits") { registry.slots.waiterCount == 1 }
        let retry = Noted { try await first.beginAttempt() }
        try await waitUntil("the retry waits") { registry.slots.waiterCount == 2 }
        second.release()
        try await retry.value
        #expect(retry.done)
        #expect(registry.slots.waiterCount == 1, "the retry went before the third")
        try await first.awaitTurn()
        // Measured anew: 1 MiB/s since the retry's first record leaves 9 s; then the end is near.
        #expect(!first.record(0))
        registry.clock.advance(.seconds(1))
        #expect(!first.record(1 * mib))
        registry.clock.advance(.seconds(8))
        #expect(first.record(9 * mib), "handed on again")
        try await queued.value
        first.release()
        third.release()
    }

    @Test("a shared download holds one slot to its end, never waits for a turn, and gives its slot back once")
    func shared() async throws {
        let registry = Registry()
        let shared = SerialPermits(registry.slots, permits: 1, serial: nil, now: { [clock = registry.clock] in clock.now })
        try await shared.beginAttempt()
        try await registry.turn.acquire(1)
        try await shared.awaitTurn()
        #expect(!shared.record(0))
        registry.clock.advance(.seconds(10))
        #expect(!shared.record(100 * Self.mib))
        shared.release()
        shared.release()
        registry.turn.release(1)
        // Both slots free, once each.
        try await registry.slots.acquire(2)
        let extra = Noted { try await registry.slots.acquire(1) }
        try await waitUntil("nothing over the limit") { registry.slots.waiterCount == 1 }
        registry.slots.release(2)
        try await extra.value
        registry.slots.release(1)
    }
}
