import FerryConcurrency
import FerryTransfer
import Synchronization

/// The download slots one upstream download holds. A serial download (a large layer, which takes
/// every slot of its registry) gives them back about a second before its end (``TailHandoff``),
/// so that the next layer's request overlaps its last bytes and its commit instead of the
/// upstream link idling between the two; any other gives them back when it ends.
final class SerialPermits: Sendable {
    private struct State {
        var held = false
        var handoff: TailHandoff?
    }

    private let semaphore: AsyncSemaphore
    private let permits: Int
    private let state: Mutex<State>
    private let now: @Sendable () -> ContinuousClock.Instant

    /// `serialSize`: the blob's size when it is downloaded alone (its slots handed on near its
    /// end), nil when it shares the slots. `now`: the clock the rate is measured on (tests).
    init(
        _ semaphore: AsyncSemaphore, permits: Int, serialSize: Int64?,
        now: @escaping @Sendable () -> ContinuousClock.Instant = { .now }
    ) {
        self.semaphore = semaphore
        self.permits = permits
        self.now = now
        state = Mutex(State(handoff: serialSize.map { TailHandoff(size: $0) }))
    }

    /// Waits for the slots unless they are held: before the first attempt, and before a retry
    /// after they were handed on (a retry waits its turn again).
    func acquire() async throws {
        guard !state.withLock({ $0.held }) else { return }
        try await semaphore.acquire(permits)
        state.withLock {
            $0.held = true
            $0.handoff?.restart()
        }
    }

    /// Records that `done` bytes are held; hands the slots on when the end is near (true then,
    /// once).
    @discardableResult
    func record(_ done: Int64) -> Bool {
        let handOn = state.withLock { state -> Bool in
            guard state.held, state.handoff?.record(done, at: now()) == true else { return false }
            state.held = false
            return true
        }
        if handOn { semaphore.release(permits) }
        return handOn
    }

    /// Gives the slots back if they are still held (the download ended, failed or was cancelled).
    func release() {
        let held = state.withLock { state -> Bool in
            defer { state.held = false }
            return state.held
        }
        if held { semaphore.release(permits) }
    }
}
