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
