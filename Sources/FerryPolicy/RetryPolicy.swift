/// Exponential backoff with equal jitter (half of each delay fixed, half random) and a cap,
/// honouring a server's `Retry-After`.
public struct RetryPolicy: Sendable, Hashable {
    /// Attempts in all, the first included. Default 6.
    public var maxAttempts: Int
    /// Delay before the first retry, before jitter. Default 0.5 s.
    public var baseDelay: Duration
    /// Upper bound of any computed delay. Default 30 s.
    public var maxDelay: Duration
    /// Upper bound of a server-requested `Retry-After`; longer requests fail instead. Default 120 s.
    public var maxRetryAfter: Duration

    public init(
        maxAttempts: Int = 6,
        baseDelay: Duration = .milliseconds(500),
        maxDelay: Duration = .seconds(30),
        maxRetryAfter: Duration = .seconds(120)
    ) {
        self.maxAttempts = maxAttempts
        self.baseDelay = baseDelay
        self.maxDelay = maxDelay
        self.maxRetryAfter = maxRetryAfter
    }

    /// The delay before retry number `attempt` (1 for the first retry), or nil when the attempts
    /// are used up. `retryAfter`, when the server sent one, wins over the computed delay.
    /// `random` is a value in 0...1 (injected so the policy stays a pure function).
    public func delay(beforeRetry attempt: Int, retryAfter: Duration? = nil, random: Double) -> Duration? {
        guard attempt < maxAttempts else { return nil }
        if let retryAfter {
            return retryAfter <= maxRetryAfter ? max(retryAfter, .zero) : nil
        }
        let exponent = min(attempt - 1, 30)
        let ceiling = min(baseDelay * (1 << exponent), maxDelay)
        // "Equal jitter": half fixed, half random, so the delay never collapses to zero.
        return ceiling / 2 + ceiling / 2 * min(max(random, 0), 1)
    }
}
