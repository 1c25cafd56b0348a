/// What a node records before each step of switching one container, so that a process killed
/// mid-switch can finish or undo it when it starts again (``ContainerSwitch/recover(logger:)``).
public struct SwitchRecord: Sendable, Hashable, Codable {
    /// How far the switch went.
    public enum Phase: String, Sendable, Hashable, Codable {
        /// About to create the new container (under ``SwitchRecord/temporaryName``).
        case creating
        /// The new container exists, nothing else changed.
        case created
        /// start-first: the new container runs under its temporary name beside the old one.
        case startedBeside
        /// The old container is stopped.
        case oldStopped
        /// The old container is renamed ``SwitchRecord/backupName``, the new one has the name.
        case swapped
        /// The new container runs under the name; its health gate is being watched.
        case started
    }

    /// The rollout this switch belongs to.
    public var rollout: String
    /// The container's name, which the new container takes.
    public var name: String
    /// The old container's ID, its image ID and the reference it was created from.
    public var oldID: String
    public var oldImageID: String
    public var oldReference: String
    /// Whether the old container was running (it is started again when restored).
    public var oldWasRunning: Bool
    /// The image the new container runs.
    public var newImage: String
    /// The new container's ID, once created.
    public var newID: String?
    public var phase: Phase

    public init(
        rollout: String, name: String, oldID: String, oldImageID: String, oldReference: String, oldWasRunning: Bool,
        newImage: String, newID: String? = nil, phase: Phase = .creating
    ) {
        self.rollout = rollout
        self.name = name
        self.oldID = oldID
        self.oldImageID = oldImageID
        self.oldReference = oldReference
        self.oldWasRunning = oldWasRunning
        self.newImage = newImage
        self.newID = newID
        self.phase = phase
    }

    /// The name the new container has until it takes over.
    public var temporaryName: String { "\(name)-ferry-new" }
    /// The name the old container keeps until the new one passes its gate.
    public var backupName: String { "\(name)-ferry-old" }

    /// Whether `name` is one a switch gives its temporary containers.
    public static func isSwitchName(_ name: String) -> Bool {
        name.hasSuffix("-ferry-new") || name.hasSuffix("-ferry-old")
    }
}

/// Where a node keeps its ``SwitchRecord``s: its SQLite in a follower, memory in tests.
public protocol SwitchJournal: Sendable {
    /// Saves (inserts or replaces) the record of the switch of `record.name`.
    func save(_ record: SwitchRecord) async throws
    /// Forgets the record: the switch is over, one way or the other.
    func finish(_ record: SwitchRecord) async throws
    /// The switches not over, oldest first.
    func unfinished() async throws -> [SwitchRecord]
    /// Remembers that a rollout replaced a container (what a rollback returns to).
    func replaced(_ entry: ReplacedContainer) async throws
    /// The containers `rollout` replaced on this node, oldest first.
    func replacedContainers(rollout: String) async throws -> [ReplacedContainer]
    /// Forgets what `rollout` replaced (after its rollback, or once it can no longer be rolled back).
    func forgetReplaced(rollout: String) async throws
}

/// A container a rollout replaced on this node: enough to recreate it from its old image.
public struct ReplacedContainer: Sendable, Hashable, Codable {
    public var rollout: String
    public var name: String
    /// The image ID the old container ran, and the reference it was created from.
    public var oldImageID: String
    public var oldReference: String
    /// The image the container runs now.
    public var newImage: String

    public init(rollout: String, name: String, oldImageID: String, oldReference: String, newImage: String) {
        self.rollout = rollout
        self.name = name
        self.oldImageID = oldImageID
        self.oldReference = oldReference
        self.newImage = newImage
    }
}
