import FerryCore
import Foundation

/// The rules of an install, as pure functions of its targets' states.
public enum InstallRules {
    /// Whether `node` may start loading now: at most `maxParallel` nodes load at once; a node
    /// already loading one image of the install may load the next.
    public static func mayLoad(node: Int64, loadingNodes: Set<Int64>, maxParallel: Int) -> Bool {
        loadingNodes.contains(node) || loadingNodes.count < max(maxParallel, 1)
    }

    /// The install's overall state once every target is finished, nil while any is not.
    public static func outcome(of states: [TargetState]) -> (done: Bool, failed: Bool)? {
        guard states.allSatisfy(\.isFinished) else { return nil }
        let failed = states.contains(.failed)
        return (!failed, failed)
    }

    /// Whether a node counts as reachable: seen within three heartbeats.
    public static func isReachable(lastSeen: ContinuousClock.Instant?, now: ContinuousClock.Instant, heartbeat: Duration) -> Bool {
        guard let lastSeen else { return false }
        return now - lastSeen <= heartbeat * 3
    }

    /// ``isReachable(lastSeen:now:heartbeat:)`` for the wall-clock times the leader records.
    public static func isReachable(lastSeen: Date, now: Date, heartbeat: Duration) -> Bool {
        now.timeIntervalSince(lastSeen) <= reachableWindow(heartbeat: heartbeat)
    }

    /// How long after its last heartbeat a node still counts as reachable, in seconds.
    public static func reachableWindow(heartbeat: Duration) -> Double {
        let (seconds, attoseconds) = (heartbeat * 3).components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
