import FerryCore
import Foundation

/// The admin API the CLI speaks to the leader: routes and wire types, shared by the server and
/// the client so the two cannot drift apart. Every route needs the admin token.
public enum AdminAPI {
    public static let prefix = "/admin/v1"
    /// `POST` a ``FetchRequest``; answers a ``FetchResponse``.
    public static let fetch = "/admin/v1/fetch"
    /// `GET` every image the leader holds or is fetching: an ``ImageList``.
    public static let images = "/admin/v1/images"
    /// `GET` one image with per-blob progress: an ``ImageStatus``. Router form with `:id`.
    public static let image = "/admin/v1/images/:id"

    public static func image(id: Int64) -> String { "/admin/v1/images/\(id)" }

    /// `POST` an ``InstallRequest``; answers `202` with an ``InstallStatus``.
    public static let installs = "/admin/v1/installs"
    /// `GET` one install with per-node progress: an ``InstallStatus``. Router form with `:id`.
    /// With `?known=KEY&wait=SECONDS` (a long poll, at most ``maxInstallWait``, fractions
    /// allowed): answers once the install's ``InstallStatus/stateKey`` differs from `KEY`, else
    /// when the wait is over, so that a follow sees a state change at once and byte counts at
    /// the pace it asks.
    public static let install = "/admin/v1/installs/:id"
    /// `GET` the nodes: a ``NodeList``.
    public static let nodes = "/admin/v1/nodes"

    public static func install(id: Int64) -> String { "/admin/v1/installs/\(id)" }
    /// The longest `wait` of an install long poll.
    public static let maxInstallWait: Duration = .seconds(60)

    /// `POST` a ``GarbageCollectionRequest``; answers a ``GarbageCollectionReport``. On the leader
    /// with the admin token; on a follower (its local admin route) with that node's own credential.
    public static let gc = "/admin/v1/gc"
}

/// Put images into the Docker engines of nodes.
public struct InstallRequest: Codable, Sendable, Hashable {
    /// Nodes loading into Docker at once when a request names no number.
    public static let defaultMaxParallel = 4

    public var images: [String]
    /// Node names; nil means every node (an empty list is refused).
    public var nodes: [String]?
    /// How many nodes may load into Docker at the same time. Default 4 when nil (the leader's
    /// default, as `ferry install --max-parallel`'s).
    public var maxParallel: Int?
    /// `os/arch[/variant]`; nil means each node's own platform.
    public var platform: String?
    /// Give up on nodes not done this many seconds after the install starts.
    public var deadlineSeconds: Int?
    /// When to ask the upstream what a tag points at; nil means ``PullPolicy/default``.
    public var pull: PullPolicy?

    public init(
        images: [String], nodes: [String]? = nil, maxParallel: Int? = nil, platform: String? = nil, deadlineSeconds: Int? = nil,
        pull: PullPolicy? = nil
    ) {
        self.pull = pull
        self.images = images
        self.nodes = nodes
        self.maxParallel = maxParallel
        self.platform = platform
        self.deadlineSeconds = deadlineSeconds
    }
}

/// One image on one node.
public struct TargetStatus: Codable, Sendable, Hashable {
    public var id: Int64
    public var node: String
    public var image: String
    public var state: TargetState
    public var bytesDone: Int64
    public var bytesTotal: Int64
    public var attempts: Int
    public var error: ErrorEntry?
    public var note: String?
    public var startedAt: Date?
    public var finishedAt: Date?

    public init(
        id: Int64, node: String, image: String, state: TargetState, bytesDone: Int64, bytesTotal: Int64, attempts: Int,
        error: ErrorEntry?, note: String?, startedAt: Date?, finishedAt: Date?
    ) {
        self.id = id
        self.node = node
        self.image = image
        self.state = state
        self.bytesDone = bytesDone
        self.bytesTotal = bytesTotal
        self.attempts = attempts
        self.error = error
        self.note = note
        self.startedAt = startedAt
        self.finishedAt = finishedAt
    }
}

public struct InstallStatus: Codable, Sendable, Hashable {
    public var id: Int64
    /// `failed` when finished with at least one failed target.
    public var state: InstallState
    public var images: [String]
    public var nodes: [String]
    public var maxParallel: Int
    public var createdAt: Date
    public var finishedAt: Date?
    public var deadlineAt: Date?
    public var targets: [TargetStatus]
    /// Images installed from the digest the leader held because the upstream did not answer:
    /// one line each naming the tag, the digest and when it was fetched.
    public var warnings: [String]?

    public init(
        id: Int64, state: InstallState, images: [String], nodes: [String], maxParallel: Int, createdAt: Date, finishedAt: Date?,
        deadlineAt: Date?, targets: [TargetStatus], warnings: [String]? = nil
    ) {
        self.warnings = warnings
        self.id = id
        self.state = state
        self.images = images
        self.nodes = nodes
        self.maxParallel = maxParallel
        self.createdAt = createdAt
        self.finishedAt = finishedAt
        self.deadlineAt = deadlineAt
        self.targets = targets
    }

    public var isFinished: Bool { state != .running }
}

public struct InstallList: Codable, Sendable, Hashable {
    public var installs: [InstallStatus]
    public init(installs: [InstallStatus]) { self.installs = installs }
}

/// Whether the leader hears from a node.
public enum NodeState: String, Sendable, Hashable, CaseIterable, WireState {
    case reachable
    /// No heartbeat for three intervals.
    case unreachable
}

public struct NodeStatus: Codable, Sendable, Hashable {
    public var name: String
    public var address: String?
    public var platform: String
    public var lastSeen: Date
    public var state: NodeState
    public var dockerVersion: String?
    public var dockerError: String?
    /// References of the images installed on the node.
    public var images: [String]
    /// Distinct nodes that reported it (corrupt, too many bytes, a stall) first hand within the
    /// last 10 minutes, once they are 2 or more; 0 otherwise. Each of them avoids it; no one else
    /// does on their word (docs/mesh.md, *Evidence*).
    public var corruptTransfers: Int
    /// When its TLS certificate expires (nil: not recorded, or a plain-HTTP mesh). It renews it
    /// after two thirds of its life.
    public var certificateExpiresAt: Date?

    public init(
        name: String, address: String?, platform: String, lastSeen: Date, state: NodeState, dockerVersion: String?, dockerError: String?,
        images: [String], corruptTransfers: Int = 0, certificateExpiresAt: Date? = nil
    ) {
        self.certificateExpiresAt = certificateExpiresAt
        self.corruptTransfers = corruptTransfers
        self.name = name
        self.address = address
        self.platform = platform
        self.lastSeen = lastSeen
        self.state = state
        self.dockerVersion = dockerVersion
        self.dockerError = dockerError
        self.images = images
    }
}

public struct NodeList: Codable, Sendable, Hashable {
    public var nodes: [NodeStatus]
    /// When the cluster CA expires (nil from older leaders).
    public var caExpiresAt: Date?
    public init(nodes: [NodeStatus], caExpiresAt: Date? = nil) {
        self.nodes = nodes
        self.caExpiresAt = caExpiresAt
    }
}

/// Ask the leader to fetch images from upstream.
public struct FetchRequest: Codable, Sendable, Hashable {
    /// Image references (`registry/repository:tag` or `…@sha256:…`).
    public var images: [String]
    /// `os/arch[/variant]`; default the leader's own platform.
    public var platform: String?
    /// When to ask the upstream what a tag points at; nil means ``PullPolicy/default``.
    public var pull: PullPolicy?

    public init(images: [String], platform: String? = nil, pull: PullPolicy? = nil) {
        self.pull = pull
        self.images = images
        self.platform = platform
    }
}

public struct FetchResponse: Codable, Sendable, Hashable {
    public var images: [ImageStatus]
    public init(images: [ImageStatus]) { self.images = images }
}

public struct ImageList: Codable, Sendable, Hashable {
    public var images: [ImageStatus]
    public init(images: [ImageStatus]) { self.images = images }
}

/// An error as registries send it, used on every Ferry HTTP API.
public struct ErrorEntry: Codable, Sendable, Hashable {
    public var code: String
    public var message: String

    public init(code: String, message: String) {
        self.code = code
        self.message = message
    }

    public init(_ error: FerryError) {
        self.init(code: error.code.rawValue, message: error.message)
    }

    public var ferryError: FerryError { FerryError(FerryError.Code(code), message) }
}

/// `{"errors":[{"code":"…","message":"…"}]}`
public struct ErrorResponse: Codable, Sendable, Hashable {
    public var errors: [ErrorEntry]
    public init(errors: [ErrorEntry]) { self.errors = errors }
}

/// One image on the leader and how far its fetch has come.
public struct ImageStatus: Codable, Sendable, Hashable {
    public var id: Int64
    public var reference: String
    /// The platform asked for.
    public var platform: String
    /// The platform of the chosen manifest, when an index said.
    public var resolvedPlatform: String?
    public var state: ImageState
    /// What the reference resolved to upstream (index or manifest).
    public var digest: String?
    public var manifestDigest: String?
    public var size: Int64
    public var bytesDone: Int64
    public var error: ErrorEntry?
    public var requestedAt: Date
    public var fetchedAt: Date?
    /// Per-blob progress, config first (only on the single-image route).
    public var blobs: [BlobStatus]?
    /// Set when the last resolution used the held digest because the upstream did not answer.
    public var warning: String?

    public init(
        id: Int64, reference: String, platform: String, resolvedPlatform: String?, state: ImageState, digest: String?,
        manifestDigest: String?, size: Int64, bytesDone: Int64, error: ErrorEntry?, requestedAt: Date, fetchedAt: Date?,
        blobs: [BlobStatus]?, warning: String? = nil
    ) {
        self.warning = warning
        self.id = id
        self.reference = reference
        self.platform = platform
        self.resolvedPlatform = resolvedPlatform
        self.state = state
        self.digest = digest
        self.manifestDigest = manifestDigest
        self.size = size
        self.bytesDone = bytesDone
        self.error = error
        self.requestedAt = requestedAt
        self.fetchedAt = fetchedAt
        self.blobs = blobs
    }

    public var isFinished: Bool { state == .present || state == .failed }
}

public struct BlobStatus: Codable, Sendable, Hashable {
    public var digest: String
    public var mediaType: String
    public var size: Int64
    public var bytesDone: Int64
    public var state: BlobState
    public var error: ErrorEntry?

    public init(digest: String, mediaType: String, size: Int64, bytesDone: Int64, state: BlobState, error: ErrorEntry?) {
        self.digest = digest
        self.mediaType = mediaType
        self.size = size
        self.bytesDone = bytesDone
        self.state = state
        self.error = error
    }
}

/// Encoders with the settings every Ferry API uses (ISO 8601 dates, sorted keys).
public enum FerryJSON {
    public static func encoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys]
        return encoder
    }

    public static func decoder() -> JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }
}
