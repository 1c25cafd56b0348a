import FerryConcurrency
import FerryTestSupport
import Synchronization
import Testing

extension AsyncSemaphoreTests {
    /// Who got in, in order.
    final class Entries: Sendable {
        private let names = Mutex<[String]>([])
        func add(_ name: String) { names.withLock { $0.append(name) } }
        var all: [String] { names.withLock { $0 } }
    }

    @Test func aWaiterForEveryPermitIsNotOvertakenBySmallerOnes() async throws {
        let semaphore = AsyncSemaphore(limit: 4)
        try await semaphore.acquire()
        let entries = Entries()
        let large = Task {
            try await semaphore.withPermit(4) { entries.add("large") }
        }
        try await waitUntil("the large acquire queues") { semaphore.waiterCount == 1 }
        // Three permits are free, but the large waiter came first: the small one queues behind it.
        let small = Task {
            try await semaphore.withPermit { entries.add("small") }
        }
        try await waitUntil("the small acquire queues") { semaphore.waiterCount == 2 }
        #expect(entries.all.isEmpty)
        semaphore.release()
        try await large.value
        try await small.value
        #expect(entries.all == ["large", "small"])
        #expect(semaphore.waiterCount == 0)
        try await semaphore.acquire(4)
        semaphore.release(4)
    }

    @Test func aCancelledLargeWaiterLetsTheSmallOnesBehindItIn() async throws {
        let semaphore = AsyncSemaphore(limit: 2)
        try await semaphore.acquire()
        let large = Task { try await semaphore.acquire(2) }
        try await waitUntil("the large acquire queues") { semaphore.waiterCount == 1 }
        let small = Task { try await semaphore.acquire() }
        try await waitUntil("the small acquire queues") { semaphore.waiterCount == 2 }
        large.cancel()
        await #expect(throws: CancellationError.self) { try await large.value }
        // The small waiter takes the permit that was free all along.
        try await small.value
        #expect(semaphore.waiterCount == 0)
        semaphore.release()
        semaphore.release()
        try await semaphore.acquire(2)
        semaphore.release(2)
    }

    @Test func moreThanTheLimitIsTakenAsTheLimit() async throws {
        let semaphore = AsyncSemaphore(limit: 3)
        let value = try await semaphore.withPermit(10) { 7 }
        #expect(value == 7)
        try await semaphore.acquire(3)
        semaphore.release(3)
    }

    /// Many tasks with mixed weights, releases racing with acquires about to queue: every task
    /// finishes, one holder at a time. (A stress test: the narrow window between an acquire's
    /// first look and its queueing, which the semaphore closes by construction, was not hit in 5
    /// runs against a semaphore without that fix.)
    @Test func manyTasksWithMixedWeightsAllFinish() async throws {
        let semaphore = AsyncSemaphore(limit: 1)
        let occupancy = Occupancy()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<2000 {
                group.addTask {
                    try await semaphore.withPermit(index % 3 == 0 ? 2 : 1) {
                        occupancy.enter()
                        await Task.yield()
                        occupancy.leave()
                    }
                }
            }
            try await group.waitForAll()
        }
        #expect(occupancy.total == 2000)
        #expect(occupancy.peak == 1)
        #expect(semaphore.waiterCount == 0)
    }
}
