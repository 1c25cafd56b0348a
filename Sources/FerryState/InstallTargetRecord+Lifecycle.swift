import FerryCore
import Foundation

/// What can happen to an install target. Every change of a target's state goes through
/// ``InstallTargetRecord/apply(_:now:)``, the one place that knows the lifecycle
/// (``TargetState/canMove(to:)``); `FerryDatabase+Installs` persists what it decides.
public enum TargetEvent: Sendable, Hashable {
    /// The node reported a state (and progress); `starting` when it (re)starts the image.
    case reported(TargetReportFields)
    /// The leader granted a load slot (`ready` → `loading`; `transferring` → `loading` for a node
    /// whose handoff overlaps the transfer, ``TargetState/mayTakeLoadSlot``).
    case loadGranted
    /// The node went away mid-load: its slot is given back (`loading` → `ready`).
    case loadGivenBack
    /// The node held its slots in the install past its lease without finishing (a node that
    /// heartbeats but never loads, or one whose engine hangs), or held one after a lapse when a
    /// node with fewer lapses asked: each of its unfinished targets there counts the lapse and
    /// forgets the lease's start, and one loading goes back (`loading` → `ready`).
    case loadLapsed
    /// The image could not be fetched: the target fails with its reason.
    case imageFailed(FerryError)
    /// The install's deadline passed before the target finished. `leaderHeld`: when the leader
    /// itself did not hold the whole image yet, how many bytes of it (of `imageSize`) it held:
    /// the upstream, not the node, was then the slower part, and the reason says so.
    case deadlinePassed(leaderHeld: Int64? = nil, imageSize: Int64 = 0)
    /// An operator removed the node (`ferry nodes remove`).
    case nodeRemoved
}

/// What a node reports about a target.
public struct TargetReportFields: Sendable, Hashable {
    public var state: TargetState
    public var bytesDone: Int64?
    public var bytesTotal: Int64?
    public var error: FerryError?
    public var note: String?
    public var starting: Bool

    public init(
        state: TargetState, bytesDone: Int64? = nil, bytesTotal: Int64? = nil, error: FerryError? = nil, note: String? = nil,
        starting: Bool = false
    ) {
        self.state = state
        self.bytesDone = bytesDone
        self.bytesTotal = bytesTotal
        self.error = error
        self.note = note
        self.starting = starting
    }
}

/// How an event changed a target.
public enum TargetTransition: Sendable, Hashable {
    /// Not allowed in the target's state; nothing changed.
    case refused
    /// Same state, new progress or remarks.
    case updated
    /// The state changed: long polls waiting on installs are to be woken.
    case moved(from: TargetState, to: TargetState)

    /// Whether anything was written.
    public var changed: Bool { self != .refused }
}

extension InstallTargetRecord {
    /// Applies `event` at `now`; the record is unchanged when the answer is ``TargetTransition/refused``.
    public mutating func apply(_ event: TargetEvent, now: Date) -> TargetTransition {
        let before = state
        switch event {
        case .reported(let report):
            guard !state.isFinished, state == report.state || state.canMove(to: report.state) else { return .refused }
            // A slot is the leader's to grant (``loadGranted``): a node cannot take one by saying it loads.
            guard report.state != .loading || state == .loading else { return .refused }
            if state.keepsLoading(onReport: report.state, starting: report.starting) {
                // The transfer's progress (or end) of a target loading while its blobs arrive.
                if let bytesDone = report.bytesDone { self.bytesDone = bytesDone }
                if let bytesTotal = report.bytesTotal { self.bytesTotal = bytesTotal }
                updatedAt = now
                return .updated
            }
            if report.starting || (report.state == .transferring && state == .waiting) {
                attempts += 1
                if startedAt == nil { startedAt = now }
            }
            state = report.state
            if let bytesDone = report.bytesDone { self.bytesDone = bytesDone }
            if let bytesTotal = report.bytesTotal { self.bytesTotal = bytesTotal }
            if let error = report.error { record(error) }
            if let note = report.note { self.note = note }
        case .loadGranted:
            guard state.mayTakeLoadSlot else { return state == .loading ? .updated : .refused }
            state = .loading
            // The lease runs from the first grant since the last lapse: a restart, or a slot given
            // back while the node was silent, does not start it over (the time without a slot
            // does not count: ``FerryDatabase/lapseLoads(now:lease:)``).
            if loadGrantedAt == nil { loadGrantedAt = now }
        case .loadGivenBack:
            guard state == .loading else { return .refused }
            state = .ready
        case .loadLapsed:
            // Its node's lease in the install ran out (every unfinished target of the node there
            // gets this event): a target it loads goes back, each counts the lapse, the lease ends.
            guard !state.isFinished else { return .refused }
            if state == .loading { state = .ready }
            loadLapses += 1
            loadGrantedAt = nil
            loadPausedAt = nil
        case .imageFailed(let error):
            guard !state.isFinished else { return .refused }
            state = .failed
            record(error)
        case .deadlinePassed(let leaderHeld, let imageSize):
            guard !state.isFinished else { return .refused }
            var reason = state == .waiting ? "the node was not reached before the install deadline" : "the node did not finish before the install deadline"
            // A node never reached is the node's doing, whatever the leader held.
            if let leaderHeld, state != .waiting {
                reason += "; the leader itself held only \(ByteSize.format(leaderHeld)) of the image's \(ByteSize.format(imageSize)) from the upstream, which was the slower part (a retry resumes what it has)"
            }
            record(FerryError(.notReached, reason))
            state = .failed
        case .nodeRemoved:
            guard !state.isFinished else { return .refused }
            record(FerryError(.nodeUnknown, "node removed"))
            state = .failed
        }
        if state.isFinished && !before.isFinished { finishedAt = now }
        updatedAt = now
        return before == state ? .updated : .moved(from: before, to: state)
    }

    private mutating func record(_ error: FerryError) {
        errorCode = error.code.rawValue
        errorMessage = error.message
    }
}

extension TargetState {
    /// The states a target can still leave.
    public static let unfinished: [TargetState] = allCases.filter { !$0.isFinished }
}
