import FerryPolicy
import Synchronization

/// Counts each licence's running blob streams against a limit.
final class StreamCounter: Sendable {
    let limit: Int
    private let running = Mutex<[Int64: Int]>([:])

    init(limit: Int) { self.limit = limit }

    struct Slot: Sendable {
        let counter: StreamCounter
        let licence: Int64
        func release() { counter.running.withLock { $0[licence, default: 1] -= 1; if $0[licence] == 0 { $0[licence] = nil } } }
    }

    /// A slot for one more stream, or nil when the licence is at its limit.
    func acquire(_ licence: Int64) -> Slot? {
        running.withLock { running in
            guard running[licence, default: 0] < limit else { return nil }
            running[licence, default: 0] += 1
            return Slot(counter: self, licence: licence)
        }
    }

    func count(_ licence: Int64) -> Int { running.withLock { $0[licence, default: 0] } }
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
