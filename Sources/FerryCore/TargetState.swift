/// Where one image stands on one node during an install.
///
/// ```
/// waiting ──node picks it up──► transferring ──all blobs held──► ready ──load slot──► loading ──► done
///    │                              │                             │                     │
///    └──────────────────────────────┴──────────── failed ◄────────┴─────────────────────┘
/// ```
/// `ready` waits for one of the install's `maxParallel` load slots. A node whose handoff overlaps
/// the transfer (the engine pulls while the blobs arrive) may take its slot while `transferring`,
/// going straight to `loading`. A node that comes back after
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

    /// Whether a target in this state may take a load slot (``loadGranted``-style, never by a
    /// report): `ready`, or `transferring` for a node whose handoff overlaps the transfer (the
    /// engine pulls from the node while the blobs arrive). A node whose handoff needs every blob
    /// asks only once `ready`.
    public var mayTakeLoadSlot: Bool { self == .ready || self == .transferring }

    /// Whether a node's report of `reported` leaves a target in this state where it is, as
    /// progress only: a target that took its load slot while transferring stays `loading` when
    /// its node reports the transfer's progress or end (`transferring`, `ready`). Only a restart
    /// (`starting`) moves it back; a slot is given back by the leader, not by a report.
    public func keepsLoading(onReport reported: TargetState, starting: Bool) -> Bool {
        self == .loading && !starting && (reported == .transferring || reported == .ready)
    }
}
