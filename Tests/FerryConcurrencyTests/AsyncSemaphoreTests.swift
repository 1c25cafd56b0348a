import FerryConcurrency
import FerryTestSupport
import Synchronization
import Testing

@Suite("AsyncSemaphore", .timeLimit(.minutes(5)))
struct AsyncSemaphoreTests {
    /// Counts holders and remembers the most seen at once.
    final class Occupancy: Sendable {
        private let state = Mutex((current: 0, peak: 0, total: 0))
        func enter() { state.withLock { $0.current += 1; $0.peak = max($0.peak, $0.current); $0.total += 1 } }
        func leave() { state.withLock { $0.current -= 1 } }
        var peak: Int { state.withLock { $0.peak } }
        var total: Int { state.withLock { $0.total } }
        var current: Int { state.withLock { $0.current } }
    }

    final class Flag: Sendable {
        private let value = Mutex(false)
        func set() { value.withLock { $0 = true } }
        var isSet: Bool { value.withLock { $0 } }
    }

    @Test(arguments: [1, 3])
    func neverMoreHoldersThanTheLimit(limit: Int) async throws {
        let semaphore = AsyncSemaphore(limit: limit)
        let occupancy = Occupancy()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<32 {
                group.addTask {
                    try await semaphore.withPermit {
                        occupancy.enter()
                        for _ in 0..<5 { await Task.yield() }
                        occupancy.leave()
                    }
                }
            }
            try await group.waitForAll()
        }
        #expect(occupancy.total == 32)
        #expect(occupancy.peak <= limit)
        #expect(occupancy.peak >= 1)
        #expect(occupancy.current == 0)
    }

    @Test func aWaiterProceedsOnlyAfterARelease() async throws {
        let semaphore = AsyncSemaphore(limit: 1)
        try await semaphore.acquire()
        let acquired = Flag()
        let waiter = Task {
            try await semaphore.acquire()
            acquired.set()
            semaphore.release()
        }
        try await waitUntil("the second acquire queues") { semaphore.waiterCount == 1 }
        #expect(!acquired.isSet)
        semaphore.release()
        try await waiter.value
        #expect(acquired.isSet)
        #expect(semaphore.waiterCount == 0)
    }

    @Test func cancellingAWaiterThrowsAndFreesNothing() async throws {
        let semaphore = AsyncSemaphore(limit: 1)
        try await semaphore.acquire()  // the only permit is held

        let cancelled = Task { try await semaphore.acquire() }
        try await waitUntil("the acquire queues") { semaphore.waiterCount == 1 }
        cancelled.cancel()
        await #expect(throws: CancellationError.self) { try await cancelled.value }
        #expect(semaphore.waiterCount == 0, "the cancelled waiter left the queue")

        // The cancelled waiter must not have released or consumed a permit: the next waiter
        // still waits for the holder.
        let acquired = Flag()
        let next = Task {
            try await semaphore.acquire()
            acquired.set()
        }
        try await waitUntil("the next acquire queues") { semaphore.waiterCount == 1 }
        #expect(!acquired.isSet)
        semaphore.release()
        try await next.value
        #expect(acquired.isSet)
        semaphore.release()

        // Exactly one permit exists again: it can be taken once without waiting.
        try await semaphore.acquire()
        semaphore.release()
    }

    @Test func anAlreadyCancelledTaskThrowsBeforeWaiting() async throws {
        let semaphore = AsyncSemaphore(limit: 1)
        let task = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            try await semaphore.acquire()
        }
        await #expect(throws: CancellationError.self) { try await task.value }
        // The permit is still free.
        try await semaphore.acquire()
        semaphore.release()
    }

    @Test func everyQueuedWaiterRunsExactlyOnce() async throws {
        let semaphore = AsyncSemaphore(limit: 1)
        try await semaphore.acquire()
        let occupancy = Occupancy()
        var tasks: [Task<Void, any Error>] = []
        for _ in 0..<5 {
            tasks.append(Task {
                try await semaphore.acquire()
                occupancy.enter()
                occupancy.leave()
                semaphore.release()
            })
        }
        try await waitUntil("all five acquires queue") { semaphore.waiterCount == 5 }
        #expect(occupancy.total == 0)
        semaphore.release()
        for task in tasks { try await task.value }
        #expect(occupancy.total == 5)
        #expect(occupancy.peak == 1)
    }

    @Test func withPermitReleasesWhenTheBodyThrows() async throws {
        struct Boom: Error {}
        let semaphore = AsyncSemaphore(limit: 1)
        await #expect(throws: Boom.self) { try await semaphore.withPermit { throw Boom() } }
        let value = try await semaphore.withPermit { 7 }
        #expect(value == 7)
    }
}
