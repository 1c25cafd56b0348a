import FerryCore
import Foundation
import GRDB

/// A follower that joined the leader.
public struct NodeRecord: Codable, Sendable, Hashable, SnakeCaseRecord, RowIDRecord {
    public static let databaseTableName = "nodes"

    public var id: Int64?
    public var name: String
    /// The URL other nodes reach it at (`--advertise`), if it gave one.
    public var address: String?
    public var platform: String
    /// sha256 of the node credential; the credential itself is only on the node.
    public var credentialHash: String
    public var joinedAt: Date
    public var lastSeen: Date
    /// The Docker engine's version at the last heartbeat, or nil if it could not be reached.
    public var dockerVersion: String?
    /// Why the Docker engine could not be reached at the last heartbeat.
    public var dockerError: String?
    /// When an operator removed it (`ferry nodes remove`); its row stays, renamed, for the
    /// history of its installs.
    public var removedAt: Date?
    /// The serial (lowercase hex) of the TLS certificate the leader last issued it, if recorded.
    public var certificateSerial: String?
    /// When that certificate expires.
    public var certificateExpiresAt: Date?
    /// sha256 of the proof its last join carried (the credential it held, or the secret a first
    /// join made), until the credential that join gave is used: a node that never received the
    /// join's answer (a lost response, a crash before it wrote `node.json`) joins again with it.
    public var joinProofHash: String?

    public enum Columns {
        public static let id = Column("id")
        public static let name = Column("name")
        public static let credentialHash = Column("credential_hash")
        public static let joinProofHash = Column("join_proof_hash")
        public static let removedAt = Column("removed_at")
    }

    public init(name: String, address: String?, platform: String, credentialHash: String, now: Date = Date()) {
        self.name = name
        self.address = address
        self.platform = platform
        self.credentialHash = credentialHash
        self.joinedAt = now
        self.lastSeen = now
    }
}

/// An install: images onto nodes, at most `maxParallel` nodes loading into Docker at once.
public struct InstallRecord: Codable, Sendable, Hashable, SnakeCaseRecord, RowIDRecord {
    public static let databaseTableName = "installs"

    public var id: Int64?
    public var state: InstallState
    public var maxParallel: Int
    /// The platform asked for; nil means each node's own.
    public var platform: String?
    /// When unfinished targets are given up as not reached.
    public var deadlineAt: Date?
    public var createdAt: Date
    public var finishedAt: Date?
    /// Warnings about its images (the upstream did not answer and a held digest was used),
    /// newline-separated.
    public var warnings: String?

    public enum Columns {
        public static let id = Column("id")
        public static let state = Column("state")
        public static let deadlineAt = Column("deadline_at")
    }

    public init(maxParallel: Int, platform: String?, deadlineAt: Date?, now: Date = Date()) {
        self.state = .running
        self.maxParallel = maxParallel
        self.platform = platform
        self.deadlineAt = deadlineAt
        self.createdAt = now
    }
}

/// One image on one node within an install.
public struct InstallTargetRecord: Codable, Sendable, Hashable, SnakeCaseRecord, RowIDRecord {
    public static let databaseTableName = "install_targets"

    public var id: Int64?
    public var installId: Int64
    public var nodeId: Int64
    public var imageId: Int64
    /// Order of the image within the install.
    public var position: Int
    public var state: TargetState
    public var bytesDone: Int64
    public var bytesTotal: Int64
    /// How many times the node started on it.
    public var attempts: Int
    public var errorCode: String?
    public var errorMessage: String?
    /// A remark from the node (e.g. "already in the engine").
    public var note: String?
    public var startedAt: Date?
    public var finishedAt: Date?
    public var updatedAt: Date
    /// Whether its image has had a resolution since the target was created. False while its
    /// image is resolved for its install; when that resolution fails, the target fails. A target
    /// with a resolution goes on with the digests the leader holds when a later install's
    /// resolution of the same tag fails (``FerryDatabase/markImageFailed(imageID:error:targetError:)``).
    public var resolved: Bool
    /// When its load slot's lease began: the first grant since its last lapse (a restart, or a
    /// slot given back while its node was silent, keeps it), moved forward by the pauses since
    /// (``loadPausedAt``). Nil before a grant, and after a lapse.
    public var loadGrantedAt: Date?
    /// Since when its node's lease in the install has been paused (seen by the leader's
    /// housekeeping, or at its start): the node held no slot there, the leader was still fetching
    /// an image it loads, or the leader was down. The lease counts only the time a slot is held.
    /// Nil while the lease runs, and without a lease. A finished target keeps both columns: the
    /// node's lease in the install covers it until the lease lapses.
    public var loadPausedAt: Date?
    /// How many times its load slot was taken back (``TargetEvent/loadLapsed``): past its lease,
    /// or, after that, for a node that asked. Such a target's slot goes to any target that never
    /// lapsed and asks.
    public var loadLapses: Int

    public enum Columns {
        public static let id = Column("id")
        public static let installId = Column("install_id")
        public static let nodeId = Column("node_id")
        public static let imageId = Column("image_id")
        public static let state = Column("state")
        public static let position = Column("position")
        public static let resolved = Column("resolved")
        public static let loadGrantedAt = Column("load_granted_at")
        public static let loadPausedAt = Column("load_paused_at")
        public static let loadLapses = Column("load_lapses")
    }

    public init(installId: Int64, nodeId: Int64, imageId: Int64, position: Int, resolved: Bool = false, now: Date = Date()) {
        self.installId = installId
        self.nodeId = nodeId
        self.imageId = imageId
        self.position = position
        self.resolved = resolved
        self.loadLapses = 0
        self.state = .waiting
        self.bytesDone = 0
        self.bytesTotal = 0
        self.attempts = 0
        self.updatedAt = now
    }
}
