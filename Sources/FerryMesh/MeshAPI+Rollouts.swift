import FerryCore
import FerryPolicy

extension MeshAPI {
    /// `POST` a ``SwitchReport``: how this node's part of rollout `:id` ended; answers 204, `404`
    /// for a rollout the leader does not know, `409` for a report it does not expect (the node is
    /// not switching or restoring in that rollout; a repeated report of the same outcome is 204).
    ///
    /// Switch work rides on the work long poll (``work``): a ``WorkResponse`` lists the node's
    /// ``SwitchWorkItem``s beside its install targets, and the node sends the keys of the items
    /// it last saw back as `&switches=KEY,KEY…` (``SwitchWorkItem/key``), so the poll answers
    /// at once when they differ, as it does for `known` targets.
    public static let switchReport = "/mesh/v1/rollouts/:id/report"

    public static func switchReport(rollout: String) -> String { "/mesh/v1/rollouts/\(rollout)/report" }
}

/// A rollout's work on one node: switch its containers of a repository to the rollout's image,
/// put back what the rollout replaced there, or forget the rollout's records (it can no longer be
/// rolled back, so the images it replaced may be collected).
public struct SwitchWorkItem: Codable, Sendable, Hashable {
    public enum Action: String, Codable, Sendable, Hashable, CaseIterable {
        /// Recreate every container of ``SwitchWorkItem/repository`` from ``SwitchWorkItem/image``.
        case `switch`
        /// Put back every container the rollout replaced on this node.
        case restore
        /// Drop the node's records of what the rollout replaced.
        case forget
    }

    public var rolloutID: String
    public var action: Action
    /// The image to run, as the node's engine holds it (the reference phase 1 installed).
    public var image: String
    /// The repository (`registry/repository`, as in an image reference) whose containers are replaced.
    public var repository: String
    public var order: RolloutPlan.Order
    public var minHealthyMilliseconds: Int64
    public var healthyDeadlineMilliseconds: Int64
    /// On a ``Action/forget`` of a rollout that succeeded with `--cleanup`: remove the images the
    /// rollout replaced from the engine where no container uses them (absent: keep them).
    public var cleanup: Bool?
    /// On a ``Action/switch`` of a rollout that was aborted: stop the switch under way after the
    /// container being switched (it finishes, or goes back), touching no other container. Not
    /// work of its own: a node runs no switch for it.
    public var halt: Bool?

    public init(
        rolloutID: String, action: Action, image: String, repository: String, order: RolloutPlan.Order,
        minHealthyMilliseconds: Int64, healthyDeadlineMilliseconds: Int64, cleanup: Bool? = nil, halt: Bool? = nil
    ) {
        self.rolloutID = rolloutID
        self.action = action
        self.image = image
        self.repository = repository
        self.order = order
        self.minHealthyMilliseconds = minHealthyMilliseconds
        self.healthyDeadlineMilliseconds = healthyDeadlineMilliseconds
        self.cleanup = cleanup
        self.halt = halt
    }

    /// What the node sends back in `switches=`: `ROLLOUT:ACTION`, `ROLLOUT:switch:halt` for a
    /// halt (a new key, so that the node's long poll answers at once).
    public var key: String { halt == true ? "\(rolloutID):\(action.rawValue):halt" : "\(rolloutID):\(action.rawValue)" }

    /// The key of the work a halt stops (``key`` without the halt).
    public var haltedKey: String { "\(rolloutID):\(action.rawValue)" }
}

/// How a node's ``SwitchWorkItem`` ended.
public struct SwitchReport: Codable, Sendable, Hashable {
    public enum Outcome: String, Codable, Sendable, Hashable, CaseIterable {
        /// Every container switched and passed its health gate.
        case passed
        /// The node was put back (switch) or could not be put back (restore); see ``SwitchReport/reason``.
        case failed
        /// No container of the repository runs on the node: reported, not a failure.
        case noContainers = "no-containers"
        /// Every container the rollout replaced runs its old image again.
        case restored
        /// The node's records of the rollout are gone.
        case forgotten
    }

    public var action: SwitchWorkItem.Action
    public var outcome: Outcome
    /// Containers switched (passed) or put back (restored).
    public var containers: Int
    /// The longest gap in service on the node (old stopped → new passed its gate), when known.
    public var downtimeMilliseconds: Int64?
    /// Why it failed.
    public var reason: String?

    public init(action: SwitchWorkItem.Action, outcome: Outcome, containers: Int = 0, downtimeMilliseconds: Int64? = nil, reason: String? = nil) {
        self.action = action
        self.outcome = outcome
        self.containers = containers
        self.downtimeMilliseconds = downtimeMilliseconds
        self.reason = reason
    }

    /// The most containers and the longest downtime a node may report, and the longest reason kept.
    public static let maxContainers = 100_000
    public static let maxDowntimeMilliseconds: Int64 = 7 * 24 * 3600 * 1000
    public static let maxReasonLength = 4096

    /// Refuses (`400`) numbers no node's switch can have produced: what a node reports is not
    /// trusted (a negative or huge downtime once stopped the leader, in its metrics). A long
    /// reason is cut, not refused (``withReasonCut``).
    public func validate() throws(FerryError) {
        guard (0...Self.maxContainers).contains(containers) else {
            throw FerryError(.invalidArgument, "containers must be between 0 and \(Self.maxContainers), got \(containers)")
        }
        if let downtimeMilliseconds, !(0...Self.maxDowntimeMilliseconds).contains(downtimeMilliseconds) {
            throw FerryError(.invalidArgument, "downtimeMilliseconds must be between 0 and \(Self.maxDowntimeMilliseconds), got \(downtimeMilliseconds)")
        }
    }

    /// The report with its reason cut to ``maxReasonLength`` bytes (a node putting back many
    /// containers joins every one's error: long, but real, and never refused for its length).
    public var withReasonCut: SwitchReport {
        guard let reason, reason.utf8.count > Self.maxReasonLength else { return self }
        var cut = self
        var text = ""
        for character in reason {
            guard text.utf8.count + character.utf8.count <= Self.maxReasonLength - 4 else { break }
            text.append(character)
        }
        cut.reason = text + " …"
        return cut
    }
}
