import Foundation

/// Where one image stands on one node during an install.
///
/// ```
/// waiting ──node picks it up──► transferring ──all blobs held──► ready ──load slot──► loading ──► done
///    │                              │                             │                     │
///    └──────────────────────────────┴──────────── failed ◄────────┴─────────────────────┘
/// ```
/// `ready` waits for one of the install's `maxParallel` load slots. A node that comes back after
/// a restart may report any earlier unfinished state again (it starts the image over); `done`
/// and `failed` are final.
public enum TargetState: String, Sendable, Hashable, CaseIterable, WireState {
    case waiting
    case transferring
    case ready
    case loading
    case done
    case failed

    public var isFinished: Bool { self == .done || self == .failed }

    /// Whether a target may move from `self` to `next`.
    public func canMove(to next: TargetState) -> Bool {
        if isFinished { return false }
        if next == .failed || next == .done { return true }
        switch (self, next) {
        case (.waiting, .transferring), (.transferring, .ready), (.ready, .loading): return true
        // A node restarting an image it had started: back to the transfer.
        case (.transferring, .transferring), (.ready, .transferring), (.loading, .transferring): return true
        // A load slot given back (the node went away while loading).
        case (.loading, .ready): return true
        default: return false
        }
    }
}

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
        let (seconds, attoseconds) = (heartbeat * 3).components
        return now.timeIntervalSince(lastSeen) <= Double(seconds) + Double(attoseconds) / 1e18
    }
}
