import Synchronization

/// Wakes long-polling waiters when something they may care about changed.
///
/// Callers read ``generation`` before checking for work and pass it to ``wait(after:timeout:)``,
/// which returns at once if anything changed in between: no wake-up is lost.
public final class ChangeSignal: Sendable {
    private struct State {
        var generation: UInt64 = 0
        var nextID: UInt64 = 0
        var waiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
        var cancelled: Set<UInt64> = []
        var closed = false
    }

    private let state = Mutex(State())

    public init() {}

    public var generation: UInt64 { state.withLock { $0.generation } }

    /// How many ``wait(after:timeout:)`` calls are parked waiting for a change right now (read-only,
    /// for tests and diagnostics: a test waits for this before it notifies).
    public var waiterCount: Int { state.withLock { $0.waiters.count } }

    /// Whether ``close()`` was called: waits return at once from then on.
    public var isClosed: Bool { state.withLock { $0.closed } }

    /// Wakes every waiter and makes every later wait return at once (the server is stopping).
    public func close() {
        state.withLock { $0.closed = true }
        notify()
    }

    /// Wakes every waiter.
    public func notify() {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.generation &+= 1
            defer { state.waiters.removeAll() }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.resume() }
    }

    /// A long poll's loop: reads `read()`, and while `settled` says no, waits for a change and
    /// reads again, until `wait` is over or the signal closes; returns the last value read. No
    /// change between a read and its wait is lost (the generation is read before each read).
    /// Throws `CancellationError` when the task is cancelled.
    public func poll<Value>(
        for wait: Duration, read: () async throws -> Value, until settled: (Value) throws -> Bool
    ) async throws -> Value {
        let deadline = ContinuousClock.now + wait
        while true {
            // A cancelled wait returns at once: without this the loop would read until the deadline.
            try Task.checkCancellation()
            let generation = self.generation
            let value = try await read()
            let left = deadline - .now
            guard try !settled(value), left > .zero, !isClosed else { return value }
            await self.wait(after: generation, timeout: left)
        }
    }

    /// Returns when ``notify()`` was called after `generation` was read, or after `timeout`.
    public func wait(after generation: UInt64, timeout: Duration) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.waitForChange(after: generation) }
            group.addTask { try? await Task.sleep(for: timeout) }
            await group.next()
            group.cancelAll()
        }
    }

    private func waitForChange(after generation: UInt64) async {
        let id = state.withLock { state -> UInt64? in
            guard state.generation == generation, !state.closed else { return nil }
            state.nextID &+= 1
            return state.nextID
        }
        guard let id else { return }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { state -> Bool in
                    if state.cancelled.remove(id) != nil || state.generation != generation { return true }
                    state.waiters[id] = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
                if let waiter = state.waiters.removeValue(forKey: id) { return waiter }
                state.cancelled.insert(id)
                return nil
            }
            waiter?.resume()
        }
    }
}
