import Synchronization

/// A counting semaphore for async code: at most `limit` permits held at once, waiters served
/// strictly in order (a waiter for several permits holds back those behind it), and a cancelled
/// waiter leaves the queue (throwing `CancellationError`).
public final class AsyncSemaphore: Sendable {
    private struct Waiter {
        var id: UInt64
        var permits: Int
        var continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var available: Int
        var waiters: [Waiter] = []
        var nextID: UInt64 = 0

        /// Takes the waiters at the head of the queue that the available permits now cover.
        mutating func admitted() -> [Waiter] {
            var admitted: [Waiter] = []
            while let first = waiters.first, first.permits <= available {
                available -= first.permits
                admitted.append(waiters.removeFirst())
            }
            return admitted
        }
    }

    /// The number of permits.
    public let limit: Int
    private let state: Mutex<State>

    public init(limit: Int) {
        precondition(limit > 0, "a semaphore needs a positive limit")
        self.limit = limit
        state = Mutex(State(available: limit))
    }

    /// How many ``acquire(_:)`` calls are queued waiting right now (read-only, for tests and
    /// diagnostics: a test waits for this instead of yielding and hoping).
    public var waiterCount: Int { state.withLock { $0.waiters.count } }

    /// Waits for `permits` permits (at most ``limit``; more are taken as ``limit``).
    public func acquire(_ permits: Int = 1) async throws {
        let permits = min(max(permits, 1), limit)
        try Task.checkCancellation()
        let id = state.withLock { state -> UInt64? in
            if state.waiters.isEmpty, state.available >= permits {
                state.available -= permits
                return nil
            }
            state.nextID += 1
            return state.nextID
        }
        guard let id else { return }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let (cancelled, admitted) = state.withLock { state -> (Bool, [Waiter]) in
                    if Task.isCancelled { return (true, []) }
                    state.waiters.append(Waiter(id: id, permits: permits, continuation: continuation))
                    // Permits released since the first look are handed out here, or they would
                    // wait for the next release.
                    return (false, state.admitted())
                }
                if cancelled { continuation.resume(throwing: CancellationError()) }
                for waiter in admitted { waiter.continuation.resume() }
            }
        } onCancel: {
            let (waiter, admitted) = state.withLock { state -> (Waiter?, [Waiter]) in
                guard let index = state.waiters.firstIndex(where: { $0.id == id }) else { return (nil, []) }
                let waiter = state.waiters.remove(at: index)
                // A large waiter leaving the head may let smaller ones behind it in.
                return (waiter, state.admitted())
            }
            waiter?.continuation.resume(throwing: CancellationError())
            for other in admitted { other.continuation.resume() }
        }
    }

    /// Gives back `permits` permits, handing them to the waiters at the head of the queue.
    public func release(_ permits: Int = 1) {
        let permits = min(max(permits, 1), limit)
        let admitted = state.withLock { state -> [Waiter] in
            state.available += permits
            return state.admitted()
        }
        for waiter in admitted { waiter.continuation.resume() }
    }

    /// Runs `body` holding `permits` permits.
    public func withPermit<T: Sendable>(_ permits: Int = 1, _ body: () async throws -> T) async throws -> T {
        let permits = min(max(permits, 1), limit)
        try await acquire(permits)
        defer { release(permits) }
        return try await body()
    }
}
