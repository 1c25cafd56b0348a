import FerryCore
import Foundation

/// The rules of an install, as pure functions of its targets' states.
public enum InstallRules {
    /// Whether `node` may start loading now: at most `maxParallel` nodes load at once; a node
    /// already loading one image of the install may load the next.
    public static func mayLoad(node: Int64, loadingNodes: Set<Int64>, maxParallel: Int) -> Bool {
        loadingNodes.contains(node) || loadingNodes.count < max(maxParallel, 1)
    }

    /// When every slot is taken: whether a node whose lease in the install lapsed `askerLapses`
    /// times may take the slot of one that lapsed `holderLapses` times: only from a node that
    /// lapsed more. A node that holds slots without loading delays the others once, by one lease,
    /// and after that only itself (it gets a free slot, and loses it to the next node that asks);
    /// an honest node that lapsed once (a slow disk) still goes before it.
    public static func mayTakeSlot(askerLapses: Int, holderLapses: Int) -> Bool {
        askerLapses < holderLapses
    }

    /// The slowest load rate a lease allows for: 2 MiB/s, below what `docker load` manages on
    /// a slow disk with the vfs driver.
    public static let loadLeaseRate: Int64 = 2 * 1024 * 1024

    /// What a lease allows for each image past the first (at most; never more than the minimum
    /// lease): an engine's fixed cost per image on a loaded machine, and a pull handoff's start.
    public static let loadLeasePerImage: Duration = .seconds(30)

    /// How long a node may hold load slots in an install, in all, before the leader takes them
    /// back: `minimum`, or the time to load its images of `imageSizes` bytes at ``loadLeaseRate``
    /// when that is longer; plus, for each image past the first, ``loadLeasePerImage`` (or
    /// `minimum` when that is shorter), so that an install of many small images is not held to one
    /// image's minimum.
    public static func loadLease(imageSizes: [Int64], minimum: Duration) -> Duration {
        // Saturating: a size comes from an upstream's manifest (a failed image's too).
        let bytes = imageSizes.reduce(Int64(0)) { sum, size in
            let (total, overflow) = sum.addingReportingOverflow(max(size, 0))
            return overflow ? .max : total
        }
        return max(minimum, .seconds(bytes / loadLeaseRate)) + min(minimum, loadLeasePerImage) * max(imageSizes.count - 1, 0)
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
