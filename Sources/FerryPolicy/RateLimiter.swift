import Synchronization

/// A token bucket shared by any number of concurrent tasks: each caller reserves the bytes it
/// is about to move and sleeps off its share of the debt, so the aggregate rate holds however
/// many transfers run at once.
public final class RateLimiter: Sendable {
    private struct State {
        var tokens: Double
        var last: ContinuousClock.Instant
    }

    /// Bytes per second.
    public let rate: Int64
    /// The most tokens the bucket holds; default a quarter second of traffic (at least 64 KiB).
    public let burst: Int64
    private let state: Mutex<State>
    private let clock = ContinuousClock()

    public init(bytesPerSecond rate: Int64, burst: Int64? = nil) {
        precondition(rate > 0, "rate must be positive")
        self.rate = rate
        self.burst = burst ?? max(rate / 4, 64 * 1024)
        self.state = Mutex(State(tokens: Double(self.burst), last: clock.now))
    }

    /// The most bytes to move per ``acquire(_:)`` when a transfer has more at hand: a reader
    /// waits for its slice behind every other transfer's, so large slices would leave a transfer
    /// silent for seconds at a low rate (and its receiver would take it for stalled, which
    /// happens after 5 s). 64 KiB, or an eighth of a second of traffic at rates below 512 KiB/s
    /// (at least 16 KiB).
    public var slice: Int { Int(max(16 * 1024, min(64 * 1024, rate / 8))) }

    /// The time the caller must wait before moving `bytes` (zero when tokens are available).
    /// Reserves the tokens immediately.
    public func reserve(_ bytes: Int) -> Duration {
        let now = clock.now
        return state.withLock { state in
            let elapsed = now - state.last
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            state.tokens = min(Double(burst), state.tokens + seconds * Double(rate))
            state.last = now
            state.tokens -= Double(bytes)
            if state.tokens >= 0 { return .zero }
            return .nanoseconds(Int64(-state.tokens / Double(rate) * 1e9))
        }
    }

    /// Waits until `bytes` may be moved.
    public func acquire(_ bytes: Int) async throws {
        let wait = reserve(bytes)
        if wait > .zero { try await Task.sleep(for: wait) }
    }
}
