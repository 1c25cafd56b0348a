import FerryConcurrency
import FerryTransfer
import Synchronization

/// The download slots one upstream download holds, and for a serial download (a large layer,
/// which takes every slot of its registry) its turn to receive.
///
/// A serial download gives its slots back about a second before its end (``TailHandoff``), so
/// the next layer's setup and request (its ingest, its record, a token, a redirect, the time to
/// the first byte) overlap that last second and the commit, instead of the upstream link idling
/// between layers. The next one's body still waits for its turn (``awaitTurn()``), which a
/// download gives back once it holds every byte: bodies arrive one at a time, in order, and the
/// link is never shared between two layers. Any other download holds one slot to its end.
final class SerialPermits: Sendable {
    private struct State {
        var held = false
        var hasTurn = false
        var acquiredBefore = false
        var turnBefore = false
        var size: Int64?
        var handoff: TailHandoff?
    }

    private let semaphore: AsyncSemaphore
    private let turn: AsyncSemaphore?
    private let permits: Int
    private let state: Mutex<State>
    private let now: @Sendable () -> ContinuousClock.Instant

    /// `serial`: the blob's size and its registry's one receiving turn when it is downloaded
    /// alone (its slots handed on near its end), nil when it shares the slots. `now`: the clock
    /// the rate is measured on (tests).
    init(
        _ semaphore: AsyncSemaphore, permits: Int, serial: (size: Int64, turn: AsyncSemaphore)?,
        now: @escaping @Sendable () -> ContinuousClock.Instant = { .now }
    ) {
        self.semaphore = semaphore
        self.permits = permits
        self.turn = serial?.turn
        self.now = now
        state = Mutex(State(size: serial?.size, handoff: serial.map { TailHandoff(size: $0.size) }))
    }

    /// Starts an attempt: waits for the slots unless they are held (before the first attempt,
    /// and before one after they were handed on, which then goes ahead of the queue: it had its
    /// turn), and measures the rate anew.
    func beginAttempt() async throws {
        let (held, retry) = state.withLock { ($0.held, $0.acquiredBefore) }
        if !held {
            try await semaphore.acquire(permits, ahead: retry)
        }
        state.withLock {
            $0.held = true
            $0.acquiredBefore = true
            $0.handoff?.restart()
        }
    }

    /// A serial download waits here, its request answered, until the download before it holds
    /// every byte; any other passes at once. Called again by the same download, it passes.
    func awaitTurn() async throws {
        guard let turn else { return }
        let (hasTurn, retry) = state.withLock { ($0.hasTurn, $0.turnBefore) }
        guard !hasTurn else { return }
        try await turn.acquire(1, ahead: retry)
        state.withLock {
            $0.hasTurn = true
            $0.turnBefore = true
        }
    }

    /// Records that `done` bytes are held: hands the slots on when the end is near, and the
    /// turn when every byte is held. True when the slots were handed on (once per attempt).
    @discardableResult
    func record(_ done: Int64) -> Bool {
        let (handOn, passTurn) = state.withLock { state -> (Bool, Bool) in
            var handOn = false
            if state.held, state.handoff?.record(done, at: now()) == true {
                state.held = false
                handOn = true
            }
            var passTurn = false
            if state.hasTurn, let size = state.size, done >= size {
                state.hasTurn = false
                passTurn = true
            }
            return (handOn, passTurn)
        }
        if handOn { semaphore.release(permits) }
        if passTurn { turn?.release(1) }
        return handOn
    }

    /// Gives back the slots and the turn if they are still held (the download ended, failed or
    /// was cancelled).
    func release() {
        let (held, hasTurn) = state.withLock { state -> (Bool, Bool) in
            defer {
                state.held = false
                state.hasTurn = false
            }
            return (state.held, state.hasTurn)
        }
        if held { semaphore.release(permits) }
        if hasTurn { turn?.release(1) }
    }
}
