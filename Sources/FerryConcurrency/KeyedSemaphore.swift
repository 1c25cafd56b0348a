import Synchronization

/// One ``AsyncSemaphore`` of `limit` permits per key, made on first use and dropped once no task
/// holds or waits for it (so a key seen once costs nothing afterwards).
public final class KeyedSemaphore<Key: Hashable & Sendable>: Sendable {
    private struct Entry {
        var semaphore: AsyncSemaphore
        /// Tasks holding or waiting for a permit.
        var users: Int
    }

    /// Permits per key.
    public let limit: Int
    private let entries: Mutex<[Key: Entry]> = Mutex([:])

    public init(limit: Int) {
        precondition(limit > 0, "a semaphore needs a positive limit")
        self.limit = limit
    }

    /// Runs `body` holding one of `key`'s permits (waiting in order for one; a cancelled waiter
    /// throws `CancellationError`).
    public func withPermit<T: Sendable>(_ key: Key, _ body: () async throws -> T) async throws -> T {
        let semaphore = entries.withLock { entries in
            var entry = entries[key] ?? Entry(semaphore: AsyncSemaphore(limit: limit), users: 0)
            entry.users += 1
            entries[key] = entry
            return entry.semaphore
        }
        defer {
            entries.withLock { entries in
                entries[key]?.users -= 1
                if entries[key]?.users == 0 { entries[key] = nil }
            }
        }
        return try await semaphore.withPermit(1, body)
    }

    /// Tasks holding or waiting for `key`'s permits (for tests and diagnostics).
    public func users(_ key: Key) -> Int { entries.withLock { $0[key]?.users ?? 0 } }

    /// Tasks queued for `key`'s permits right now (for tests: a waiter is in the queue).
    public func waiterCount(_ key: Key) -> Int { entries.withLock { $0[key]?.semaphore.waiterCount ?? 0 } }

    /// Keys with a task holding or waiting for a permit.
    public var keyCount: Int { entries.withLock { $0.count } }
}
