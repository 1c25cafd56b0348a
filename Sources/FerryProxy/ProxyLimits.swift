import FerryPolicy
import Synchronization

/// Counts each licence's running blob streams against a limit; requests past it wait their
/// turn, first come first served, for a bounded time.
final class StreamCounter: Sendable {
    let limit: Int
    /// Requests of one licence that may wait for a slot at once; past them `429` at once.
    let maxWaiters: Int

    private struct Waiter {
        let id: UInt64
        let continuation: CheckedContinuation<Acquired, Never>
        /// Ends the wait when its time is up; cancelled once the wait ends otherwise.
        var timer: Task<Void, Never>?
    }

    private struct State {
        var running: [Int64: Int] = [:]
        var waiting: [Int64: [Waiter]] = [:]
        var nextID: UInt64 = 0
        /// The proxy is stopping: waiters are sent away and nobody waits any more.
        var closed = false
    }

    private let state = Mutex(State())

    /// `maxWaiters` defaults to ``defaultMaxWaiters(limit:)``.
    init(limit: Int, maxWaiters: Int? = nil) {
        self.limit = limit
        self.maxWaiters = maxWaiters ?? Self.defaultMaxWaiters(limit: limit)
    }

    /// 4 × `limit`, at least 128: an image's every layer requested at once (`ctr` does; Docker
    /// caps layers at 127) waits rather than fails, and an idle waiting request costs a connection.
    static func defaultMaxWaiters(limit: Int) -> Int { max(4 * limit, 128) }

    /// One running stream of a licence. Released once: by ``release()``, or when the last
    /// reference goes (a response whose body never ran, its customer gone before the head was
    /// written, still gives its slot back).
    final class Slot: Sendable {
        let counter: StreamCounter
        let licence: Int64
        private let released = Atomic(false)

        init(counter: StreamCounter, licence: Int64) {
            self.counter = counter
            self.licence = licence
        }

        /// Ends the stream: its slot goes to the licence's longest waiting request, if any.
        func release() {
            guard !released.exchange(true, ordering: .acquiringAndReleasing) else { return }
            counter.release(licence)
        }

        deinit { release() }
    }

    /// How a request for a slot ended.
    enum Acquired: Sendable {
        case slot(Slot)
        /// ``maxWaiters`` requests of the licence already wait (or waiting is off).
        case queueFull
        /// None of the licence's streams ended within the wait.
        case timedOut
        /// The proxy is stopping, or the request was cancelled.
        case closed
    }

    /// A slot for one more stream, or nil when the licence is at its limit.
    func acquire(_ licence: Int64) -> Slot? {
        state.withLock { state in
            guard !state.closed, state.running[licence, default: 0] < limit else { return nil }
            state.running[licence, default: 0] += 1
            return Slot(counter: self, licence: licence)
        }
    }

    /// A slot for one more stream: at once if the licence is below its limit, else once one of
    /// its streams ends, waiting at most `wait` behind at most ``maxWaiters`` others.
    func acquire(_ licence: Int64, waitingAtMost wait: Duration) async -> Acquired {
        if let slot = acquire(licence) { return .slot(slot) }
        let id = state.withLock { state in
            state.nextID += 1
            return state.nextID
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Acquired, Never>) in
                let now: Acquired? = state.withLock { state in
                    if state.closed || Task.isCancelled { return .closed }
                    if state.running[licence, default: 0] < limit {
                        state.running[licence, default: 0] += 1
                        return .slot(Slot(counter: self, licence: licence))
                    }
                    guard wait > .zero, state.waiting[licence, default: []].count < maxWaiters else { return .queueFull }
                    state.waiting[licence, default: []].append(Waiter(id: id, continuation: continuation))
                    return nil
                }
                if let now {
                    continuation.resume(returning: now)
                    return
                }
                let timer = Task {
                    try? await Task.sleep(for: wait)
                    if !Task.isCancelled { self.giveUp(licence, id, .timedOut) }
                }
                // The wait may have ended already (a slot came): then the timer has nothing to do.
                let waiting = state.withLock { state in
                    guard let index = state.waiting[licence]?.firstIndex(where: { $0.id == id }) else { return false }
                    state.waiting[licence]![index].timer = timer
                    return true
                }
                if !waiting { timer.cancel() }
            }
        } onCancel: {
            giveUp(licence, id, .closed)
        }
    }

    /// Sends every waiting request away (`closed`) and refuses new waits: the proxy is
    /// stopping, and a waiting request would otherwise hold up its graceful shutdown.
    func close() {
        let waiters: [Waiter] = state.withLock { state in
            state.closed = true
            defer { state.waiting = [:] }
            return state.waiting.values.flatMap { $0 }
        }
        for waiter in waiters {
            waiter.timer?.cancel()
            waiter.continuation.resume(returning: .closed)
        }
    }

    /// Waiter `id` stops waiting (its time is up, or its task was cancelled), if still waiting.
    private func giveUp(_ licence: Int64, _ id: UInt64, _ outcome: Acquired) {
        let waiter: Waiter? = state.withLock { state in
            guard let index = state.waiting[licence]?.firstIndex(where: { $0.id == id }) else { return nil }
            let waiter = state.waiting[licence]!.remove(at: index)
            if state.waiting[licence]!.isEmpty { state.waiting[licence] = nil }
            return waiter
        }
        guard let waiter else { return }
        waiter.timer?.cancel()
        waiter.continuation.resume(returning: outcome)
    }

    private func release(_ licence: Int64) {
        let next: Waiter? = state.withLock { state in
            if var waiters = state.waiting[licence], !waiters.isEmpty {
                // The slot passes to the next request as it is: the running count stays.
                let next = waiters.removeFirst()
                state.waiting[licence] = waiters.isEmpty ? nil : waiters
                return next
            }
            state.running[licence, default: 1] -= 1
            if state.running[licence] == 0 { state.running[licence] = nil }
            return nil
        }
        guard let next else { return }
        next.timer?.cancel()
        next.continuation.resume(returning: .slot(Slot(counter: self, licence: licence)))
    }

    func count(_ licence: Int64) -> Int { state.withLock { $0.running[licence, default: 0] } }

    func waiting(_ licence: Int64) -> Int { state.withLock { $0.waiting[licence]?.count ?? 0 } }
}

/// One token bucket per licence with `--max-rate`, shared by all its streams.
final class LicenceLimiters: Sendable {
    private let limiters = Mutex<[Int64: RateLimiter]>([:])

    func limiter(_ licence: Int64, rate: Int64) -> RateLimiter {
        limiters.withLock { limiters in
            if let existing = limiters[licence], existing.rate == rate { return existing }
            let created = RateLimiter(bytesPerSecond: rate)
            limiters[licence] = created
            return created
        }
    }
}
