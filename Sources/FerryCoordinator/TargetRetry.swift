import FerryCore
import FerryPolicy
import FerryState
import FerryTransfer

/// The leader moved the target on (finished, failed by a deadline, or it belongs to someone
/// else): the runner stops quietly.
struct TargetSuperseded: Error {}

/// What a target does after an attempt failed: a pure decision, for ``TargetRunner``.
struct TargetRetry: Sendable {
    enum Action: Sendable, Equatable {
        /// The target is over (finished or reassigned by the leader, or this task cancelled): stop quietly.
        case stop
        /// Worth another attempt after `delay` (the leader's deadline ends it if it never works).
        case retry(after: Duration)
        /// The image or the engine failed for good: report the target failed with this reason.
        case fail(FerryError)
    }

    /// Backoff between attempts: 0.5 s doubling to 10 s, for as long as it takes.
    static let policy = RetryPolicy(maxAttempts: .max, baseDelay: .milliseconds(500), maxDelay: .seconds(10))

    private(set) var attempts = 0

    /// Decides after `error`; `random` in 0...1 jitters the delay.
    mutating func failed(_ error: any Error, random: Double) -> Action {
        if error is TargetSuperseded { return .stop }
        switch FailureClass(error) {
        case .cancelled:
            return .stop
        case .transient:
            attempts += 1
            return .retry(after: Self.policy.delay(beforeRetry: min(attempts, 8), random: random) ?? Self.policy.maxDelay)
        case .permanent:
            // The node's own database refusing (its disk full, say) says so in Ferry's words.
            return .fail((error as? FerryError) ?? FerryError(database: error) ?? FerryError(.internal, Self.message(error)))
        }
    }

    /// An error in words for the logs.
    static func message(_ error: any Error) -> String {
        if let error = error as? FerryError { return error.message }
        return TransportProblem(error)?.description ?? "\(error)"
    }
}
