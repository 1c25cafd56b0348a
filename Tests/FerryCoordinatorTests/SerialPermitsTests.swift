import FerryConcurrency
import FerryTestSupport
import Synchronization
import Testing

@testable import FerryCoordinator

/// A serial download hands its registry's slots on near its end; nothing is given back twice.
@Suite("SerialPermits", .timeLimit(.minutes(5)))
struct SerialPermitsTests {
    /// A clock the test moves.
    final class Clock: Sendable {
        let start = ContinuousClock.now
        private let offset = Mutex(Duration.zero)
        func advance(_ by: Duration) { offset.withLock { $0 += by } }
        var now: ContinuousClock.Instant { start + offset.withLock { $0 } }
    }

    let mib: Int64 = 1024 * 1024

    @Test("the next serial download starts while this one is in its last second, and the slots come back once")
    func handsOnAtTheTail() async throws {
        let semaphore = AsyncSemaphore(limit: 2)
        let clock = Clock()
        let first = SerialPermits(semaphore, permits: 2, serialSize: 100 * mib, now: { clock.now })
        try await first.acquire()
        let second = SerialPermits(semaphore, permits: 2, serialSize: 100 * mib, now: { clock.now })
        let started = Mutex(false)
        let next = Task {
            try await second.acquire()
            started.withLock { $0 = true }
        }
        try await waitUntil("the next download waits") { semaphore.waiterCount == 1 }
        #expect(!first.record(0))
        clock.advance(.seconds(5))
        #expect(!first.record(50 * mib), "5 s left at 10 MiB/s")
        #expect(!started.withLock { $0 })
        clock.advance(.seconds(4))
        #expect(first.record(90 * mib), "1 s left at 10 MiB/s")
        try await next.value
        #expect(started.withLock { $0 })
        #expect(!first.record(100 * mib), "said once")
        // The end gives nothing back a second time: the next download holds both slots, so a
        // third waits until it is done.
        first.release()
        let third = Task { try await semaphore.acquire(1) }
        try await waitUntil("a third download waits") { semaphore.waiterCount == 1 }
        second.release()
        try await third.value
        #expect(semaphore.waiterCount == 0)
        semaphore.release(1)
    }

    @Test("a retry after the hand-off waits its turn again; a shared download never hands on")
    func retryAndShared() async throws {
        let semaphore = AsyncSemaphore(limit: 2)
        let clock = Clock()
        let first = SerialPermits(semaphore, permits: 2, serialSize: 10 * mib, now: { clock.now })
        try await first.acquire()
        #expect(first.record(10 * mib), "every byte held: hands on at once")
        let second = SerialPermits(semaphore, permits: 2, serialSize: 10 * mib, now: { clock.now })
        try await second.acquire()
        // The first download's bytes were bad: it asks again, behind the second.
        let retried = Mutex(false)
        let retry = Task {
            try await first.acquire()
            retried.withLock { $0 = true }
        }
        try await waitUntil("the retry waits") { semaphore.waiterCount == 1 }
        second.release()
        try await retry.value
        #expect(retried.withLock { $0 })
        // Measured anew: its first record after the retry starts the clock.
        #expect(!first.record(0))
        first.release()

        let shared = SerialPermits(semaphore, permits: 1, serialSize: nil, now: { clock.now })
        try await shared.acquire()
        #expect(!shared.record(0))
        clock.advance(.seconds(10))
        #expect(!shared.record(100 * mib))
        shared.release()
        shared.release()
        // Both slots free, once each.
        try await semaphore.acquire(2)
        let extra = Task { try await semaphore.acquire(1) }
        try await waitUntil("nothing over the limit") { semaphore.waiterCount == 1 }
        semaphore.release(2)
        try await extra.value
        semaphore.release(1)
    }
}
