import FerryCore
import FerryPolicy
import Foundation

extension AdminAPI {
    /// `POST` a ``RolloutRequest``: answers `202` with the new rollout's ``RolloutStatus``.
    /// `GET`: every rollout, newest first (a ``RolloutList``).
    public static let rollouts = "/admin/v1/rollouts"
    /// `GET` one rollout (``RolloutStatus``); `404` for an ID the leader does not know.
    public static let rollout = "/admin/v1/rollouts/:id"
    /// `POST` (no body): pause, resume, abort or roll back a rollout; answers its ``RolloutStatus``,
    /// `409` when its phase does not allow it (resume of a rollout that is not paused, say).
    public static let rolloutPause = "/admin/v1/rollouts/:id/pause"
    public static let rolloutResume = "/admin/v1/rollouts/:id/resume"
    public static let rolloutAbort = "/admin/v1/rollouts/:id/abort"
    public static let rolloutRollback = "/admin/v1/rollouts/:id/rollback"

    public static func rollout(id: String) -> String { "/admin/v1/rollouts/\(id)" }

    public static func rollout(id: String, _ control: RolloutControl) -> String { "/admin/v1/rollouts/\(id)/\(control.rawValue)" }
}

/// What an operator does to a running rollout.
public enum RolloutControl: String, Codable, Sendable, Hashable, CaseIterable {
    case pause, resume, abort, rollback
}

/// `ferry rollout IMAGE`: put IMAGE into service on the nodes.
public struct RolloutRequest: Codable, Sendable, Hashable {
    /// The new image, with a tag (`registry/repository:tag`).
    public var image: String
    /// The repository whose containers are replaced; nil means the image's own.
    public var replace: String?
    /// Node names; nil or `["all"]` means every node (an empty list is refused).
    public var nodes: [String]?
    /// How the rollout proceeds; nil means the defaults (a key left out of it takes its default).
    public var plan: RolloutPlan?

    public init(image: String, replace: String? = nil, nodes: [String]? = nil, plan: RolloutPlan? = nil) {
        self.image = image
        self.replace = replace
        self.nodes = nodes
        self.plan = plan
    }
}

/// One node of a rollout, as `ferry rollout status` shows it.
public struct RolloutNodeStatus: Codable, Sendable, Hashable {
    public var name: String
    public var status: RolloutState.NodeStatus
    /// Why it failed (or what a restore met).
    public var reason: String?
    /// Containers switched on it.
    public var containers: Int
    /// Its longest gap in service: old container stopped → new one passed its gate.
    public var downtimeMilliseconds: Int64?
    /// Phase 1: bytes of the image the node received so far, of ``bytesTotal``.
    public var bytesDone: Int64?
    public var bytesTotal: Int64?

    public init(
        name: String, status: RolloutState.NodeStatus, reason: String? = nil, containers: Int = 0, downtimeMilliseconds: Int64? = nil,
        bytesDone: Int64? = nil, bytesTotal: Int64? = nil
    ) {
        self.name = name
        self.status = status
        self.reason = reason
        self.containers = containers
        self.downtimeMilliseconds = downtimeMilliseconds
        self.bytesDone = bytesDone
        self.bytesTotal = bytesTotal
    }
}

/// A rollout as the admin API shows it.
public struct RolloutStatus: Codable, Sendable, Hashable {
    public var id: String
    public var image: String
    /// The repository whose containers are replaced (`registry/repository`).
    public var repository: String
    public var phase: RolloutState.Phase
    public var plan: RolloutPlan
    public var nodes: [RolloutNodeStatus]
    /// The wave being switched or next (0-based), of ``waves``.
    public var wave: Int
    public var waves: Int
    /// Why it is paused.
    public var pauseReason: String?
    /// What paused it (`request`, `failure-policy`, `canary`); absent when not paused, and from
    /// leaders before 0.2.0's typed cause.
    public var pauseCause: RolloutState.PauseCause?
    /// When a wait between waves ends.
    public var wakeAt: Date?
    /// The install that distributes the image (phase 1).
    public var installID: Int64?
    public var createdAt: Date
    public var updatedAt: Date

    public init(
        id: String, image: String, repository: String, phase: RolloutState.Phase, plan: RolloutPlan, nodes: [RolloutNodeStatus], wave: Int,
        waves: Int, pauseReason: String?, pauseCause: RolloutState.PauseCause? = nil, wakeAt: Date?, installID: Int64?, createdAt: Date,
        updatedAt: Date
    ) {
        self.id = id
        self.image = image
        self.repository = repository
        self.phase = phase
        self.plan = plan
        self.nodes = nodes
        self.wave = wave
        self.waves = waves
        self.pauseReason = pauseReason
        self.pauseCause = pauseCause
        self.wakeAt = wakeAt
        self.installID = installID
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }

    /// Whether nothing more happens.
    public var isFinal: Bool { phase.isFinal }

    /// Whether every target node switched and passed (or had no container to switch).
    public var isSuccess: Bool { phase == .succeeded && nodes.allSatisfy { $0.status == .switched || $0.status == .noContainers } }
}

public struct RolloutList: Codable, Sendable, Hashable {
    public var rollouts: [RolloutStatus]
    public init(rollouts: [RolloutStatus]) { self.rollouts = rollouts }
}
