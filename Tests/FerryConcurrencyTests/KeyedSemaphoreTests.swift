import FerryConcurrency
import FerryTestSupport
import Synchronization
import Testing

@Suite("KeyedSemaphore")
struct KeyedSemaphoreTests {
    /// Counts the tasks inside, held there until the door opens.
    final class Gate: Sendable {
        let inside = Mutex<[String: Int]>([:])
        let door = Door()

        func hold(_ key: String) async {
            inside.withLock { $0[key, default: 0] += 1 }
            await door.pass()
            inside.withLock { $0[key, default: 0] -= 1 }
        }

        func open() { door.open() }
        func count(_ key: String) -> Int { inside.withLock { $0[key] ?? 0 } }
    }

    @Test("at most the limit per key at once; another key is not held back; a key is dropped when its last user leaves")
    func limitPerKey() async throws {
        let semaphore = KeyedSemaphore<String>(limit: 2)
        let gate = Gate()
        let tasks = (0..<5).map { _ in Task { try await semaphore.withPermit("a") { await gate.hold("a") } } }
        try await waitUntil("five users, two inside") { semaphore.users("a") == 5 && gate.count("a") == 2 }
        #expect(gate.count("a") == 2, "two inside, three waiting")
        // Another key goes straight in while "a" is full.
        let other = Task { try await semaphore.withPermit("b") { await gate.hold("b") } }
        try await waitUntil("b inside") { gate.count("b") == 1 }
        #expect(semaphore.keyCount == 2)
        gate.open()
        for task in tasks { try await task.value }
        try await other.value
        #expect(semaphore.users("a") == 0 && semaphore.keyCount == 0)
    }

    @Test("a cancelled waiter leaves; its key is dropped with its last user")
    func cancelledWaiter() async throws {
        let semaphore = KeyedSemaphore<Int>(limit: 1)
        let gate = Gate()
        let holder = Task { try await semaphore.withPermit(1) { await gate.hold("1") } }
        try await waitUntil("the holder inside") { gate.count("1") == 1 }
        let waiter = Task { try await semaphore.withPermit(1) { 42 } }
        try await waitUntil("the waiter queued") { semaphore.users(1) == 2 && semaphore.waiterCount(1) == 1 }
        waiter.cancel()
        await #expect(throws: CancellationError.self) { try await waiter.value }
        #expect(semaphore.users(1) == 1)
        gate.open()
        try await holder.value
        #expect(semaphore.keyCount == 0)
    }
}
