/// The health gate a new container passes before its node counts as switched (pure): with a
/// HEALTHCHECK, `healthy` within the deadline; without one, running for the minimum time with
/// no exit and no restart.
public struct HealthGate: Sendable, Hashable {
    /// Whether the new container has a HEALTHCHECK (its own or its image's, not `NONE`).
    public var hasHealthcheck: Bool
    /// How long a container without a HEALTHCHECK must run (`--min-healthy`).
    public var minHealthy: Duration
    /// How long a container with a HEALTHCHECK has to report `healthy` (`--healthy-deadline`).
    public var healthyDeadline: Duration

    public init(hasHealthcheck: Bool, minHealthy: Duration, healthyDeadline: Duration) {
        self.hasHealthcheck = hasHealthcheck
        self.minHealthy = minHealthy
        self.healthyDeadline = healthyDeadline
    }

    /// What the gate says so far.
    public enum Verdict: Sendable, Hashable {
        case waiting
        case passed
        case failed(String)
    }

    /// The new container is removed when it fails, its logs with it: how to see why.
    static let removedHint = "it was removed: run the new image by hand (`docker run`) to see its output"

    /// The verdict on a container observed in `state`, `elapsed` after it started, having been
    /// restarted `restarts` times since.
    public func verdict(state: DockerContainerState, restarts: Int, elapsed: Duration) -> Verdict {
        if restarts > 0 || state.restarting {
            // A running container's exit code is its current run's (0): what failed is that it exited.
            let times = restarts > 0 ? " \(restarts) time\(restarts == 1 ? "" : "s")" : ""
            return .failed("the new container exited and its restart policy restarted it\(times) (now \(state.status)); \(Self.removedHint)")
        }
        guard state.running else { return .failed("the new container exited with code \(state.exitCode); \(Self.removedHint)") }
        if hasHealthcheck {
            switch state.health {
            case "healthy": return .passed
            case "unhealthy": return .failed("the new container's HEALTHCHECK reports unhealthy")
            default:
                return elapsed >= healthyDeadline ? .failed("the new container was not healthy within \(healthyDeadline.secondsText)") : .waiting
            }
        }
        return elapsed >= minHealthy ? .passed : .waiting
    }

    /// Whether a container `Config` (merged with its image's by the engine) has a HEALTHCHECK.
    public static func hasHealthcheck(test: [String]?) -> Bool {
        guard let test, let kind = test.first else { return false }
        return kind != "NONE"
    }
}

extension Duration {
    /// `12s`, `1.5s`, for messages.
    public var secondsText: String {
        let (seconds, attoseconds) = components
        if attoseconds == 0 { return "\(seconds)s" }
        let value = Double(seconds) + Double(attoseconds) / 1e18
        return "\((value * 1000).rounded() / 1000)s"
    }
}
