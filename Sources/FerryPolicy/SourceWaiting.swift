import FerryCore

/// How long a follower waits before asking the tracker again when no source can serve a blob
/// yet (the leader has not started on it): 0.2 s doubling to 2 s, never giving up (the install's
/// deadline, or cancellation, ends it). Defined once for `MeshDownload` and the simulator.
public enum SourceWaiting {
    public static let policy = RetryPolicy(maxAttempts: .max, baseDelay: .milliseconds(200), maxDelay: .seconds(2))

    /// The wait after the `waits`-th empty answer in a row (1 for the first); `random` in 0...1 jitters it.
    public static func delay(afterEmptyAnswers waits: Int, random: Double) -> Duration {
        policy.delay(beforeRetry: min(max(waits, 1), 8), random: random) ?? policy.maxDelay
    }
}
