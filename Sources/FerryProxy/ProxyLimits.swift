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
        let continuation: CheckedContinuation<Slot?, Never>
    }

    private struct State {
        var running: [Int64: Int] = [:]
        var waiting: [Int64: [Waiter]] = [:]
        var nextID: UInt64 = 0
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

    struct Slot: Sendable {
        let counter: StreamCounter
        let licence: Int64
        /// Ends the stream: its slot goes to the licence's longest waiting request, if any.
        func release() { counter.release(licence) }
    }

    /// A slot for one more stream, or nil when the licence is at its limit.
    func acquire(_ licence: Int64) -> Slot? {
        state.withLock { state in
            guard state.running[licence, default: 0] < limit else { return nil }
            state.running[licence, default: 0] += 1
            return Slot(counter: self, licence: licence)
        }
    }

    /// A slot for one more stream: at once if the licence is below its limit, else once one of
    /// its streams ends, waiting at most `wait` behind at most ``maxWaiters`` others. Nil when
    /// none came in time, too many wait already, `wait` is zero, or the task was cancelled.
    func acquire(_ licence: Int64, waitingAtMost wait: Duration) async -> Slot? {
        if let slot = acquire(licence) { return slot }
        let id = state.withLock { state in
            state.nextID += 1
            return state.nextID
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Slot?, Never>) in
                let now: Slot?? = state.withLock { state in
                    if state.running[licence, default: 0] < limit {
                        state.running[licence, default: 0] += 1
                        return .some(Slot(counter: self, licence: licence))
                    }
                    guard wait > .zero, state.waiting[licence, default: []].count < maxWaiters, !Task.isCancelled else { return .some(nil) }
                    state.waiting[licence, default: []].append(Waiter(id: id, continuation: continuation))
                    return nil
                }
                if let now {
                    continuation.resume(returning: now)
                    return
                }
                Task {
                    try? await Task.sleep(for: wait)
                    self.giveUp(licence, id)
                }
            }
        } onCancel: {
            giveUp(licence, id)
        }
    }

    /// Waiter `id` stops waiting (its time is up, or its task was cancelled), if still waiting.
    private func giveUp(_ licence: Int64, _ id: UInt64) {
        let waiter: Waiter? = state.withLock { state in
            guard let index = state.waiting[licence]?.firstIndex(where: { $0.id == id }) else { return nil }
            let waiter = state.waiting[licence]!.remove(at: index)
            if state.waiting[licence]!.isEmpty { state.waiting[licence] = nil }
            return waiter
        }
        waiter?.continuation.resume(returning: nil)
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
        next?.continuation.resume(returning: Slot(counter: self, licence: licence))
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
