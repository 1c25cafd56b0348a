import Synchronization

/// Stops one piece of work from outside: ``run(_:)`` runs it in a child task that is cancelled
/// when ``stop()`` is called (before or during the run), or when the caller is cancelled.
/// Cancellation then reaches everything the work awaits: downloads, long polls, sleeps, loads.
final class StopSignal: Sendable {
    private struct State {
        var stopped = false
        var waiter: CheckedContinuation<Void, Never>?
    }

    private let state = Mutex(State())

    var isStopped: Bool { state.withLock { $0.stopped } }

    /// Stops the work (at once if it runs, before it starts otherwise).
    func stop() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            state.stopped = true
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }

    /// Runs `work` until it returns or is stopped.
    func run(_ work: @escaping @Sendable () async -> Void) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await work() }
            group.addTask { await self.stopped() }
            await group.next()
            group.cancelAll()
        }
    }

    /// Returns once ``stop()`` was called, or the task is cancelled.
    private func stopped() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let now = state.withLock { state -> Bool in
                    if state.stopped { return true }
                    state.waiter = continuation
                    return false
                }
                if now { continuation.resume() }
            }
        } onCancel: {
            stop()
        }
    }
}
