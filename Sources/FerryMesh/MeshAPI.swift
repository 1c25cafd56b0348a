import FerryCore
import Foundation

/// The coordination API between followers and the leader: routes and wire types, shared by the
/// server and ``MeshClient``. Every route needs a credential: the join token for `join`, the
/// node's own credential for the rest.
public enum MeshAPI {
    /// `POST` a ``JoinRequest`` with the join token as Bearer; answers a ``JoinResponse``.
    public static let join = "/mesh/v1/join"
    /// `POST` a ``Heartbeat``; answers 204.
    public static let heartbeat = "/mesh/v1/heartbeat"
    /// `GET` with `?wait=SECONDS` (long poll, at most 60); answers a ``WorkResponse``.
    public static let work = "/mesh/v1/work"
    /// `POST` a ``TargetReport``; answers 204, or 409 if the transition is refused.
    public static let report = "/mesh/v1/targets/:id/report"
    /// `POST` with `?wait=SECONDS`: waits for a load slot; answers a ``LoadPermit``.
    public static let load = "/mesh/v1/targets/:id/load"

    public static func report(target: Int64) -> String { "/mesh/v1/targets/\(target)/report" }
    public static func load(target: Int64) -> String { "/mesh/v1/targets/\(target)/load" }

    /// How often followers send a heartbeat; a node silent for three of these is unreachable.
    public static let heartbeatInterval: Duration = .seconds(5)
}

public struct JoinRequest: Codable, Sendable, Hashable {
    /// The node's name, unique in the cluster: `[a-z0-9][a-z0-9._-]{0,62}`.
    public var name: String
    /// The URL other nodes reach it at, if it serves blobs.
    public var address: String?
    /// Its platform (`linux/amd64`), so installs fetch the right image for it.
    public var platform: String

    public init(name: String, address: String?, platform: String) {
        self.name = name
        self.address = address
        self.platform = platform
    }

    /// Whether `name` is a valid node name.
    public static func isValidName(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard let first = bytes.first, bytes.count <= 63 else { return false }
        func alnum(_ b: UInt8) -> Bool { (b >= 0x61 && b <= 0x7a) || (b >= 0x30 && b <= 0x39) }
        return alnum(first) && bytes.allSatisfy { alnum($0) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-") }
    }
}

public struct JoinResponse: Codable, Sendable, Hashable {
    public var nodeID: Int64
    public var name: String
    /// The node's own credential: keep it secret (the leader stores only its hash).
    public var credential: String
    public var heartbeatSeconds: Int

    public init(nodeID: Int64, name: String, credential: String, heartbeatSeconds: Int) {
        self.nodeID = nodeID
        self.name = name
        self.credential = credential
        self.heartbeatSeconds = heartbeatSeconds
    }
}

public struct Heartbeat: Codable, Sendable, Hashable {
    /// The Docker engine's version, when it answered.
    public var dockerVersion: String?
    /// Why the Docker engine did not answer.
    public var dockerError: String?

    public init(dockerVersion: String?, dockerError: String?) {
        self.dockerVersion = dockerVersion
        self.dockerError = dockerError
    }
}

/// One image to put on the node.
public struct WorkItem: Codable, Sendable, Hashable {
    public var targetID: Int64
    public var installID: Int64
    /// The reference as asked (`registry/repository:tag`), to tag the image with.
    public var reference: String
    /// The upstream registry and repository (the leader's `/v2/` serves it as `<repository>?ns=<registry>`).
    public var registry: String
    public var repository: String
    /// The image manifest to install.
    public var manifestDigest: Digest
    public var size: Int64
    /// Where the leader thinks the target stands.
    public var state: TargetState

    public init(
        targetID: Int64, installID: Int64, reference: String, registry: String, repository: String, manifestDigest: Digest,
        size: Int64, state: TargetState
    ) {
        self.targetID = targetID
        self.installID = installID
        self.reference = reference
        self.registry = registry
        self.repository = repository
        self.manifestDigest = manifestDigest
        self.size = size
        self.state = state
    }
}

public struct WorkResponse: Codable, Sendable, Hashable {
    public var items: [WorkItem]
    public init(items: [WorkItem]) { self.items = items }
}

public struct TargetReport: Codable, Sendable, Hashable {
    public var state: TargetState
    public var bytesDone: Int64?
    public var bytesTotal: Int64?
    public var error: ErrorEntry?
    public var note: String?
    /// Set on the first report of an attempt (a node starting the image, or starting it over).
    public var starting: Bool?

    public init(
        state: TargetState, bytesDone: Int64? = nil, bytesTotal: Int64? = nil, error: ErrorEntry? = nil, note: String? = nil,
        starting: Bool? = nil
    ) {
        self.starting = starting
        self.state = state
        self.bytesDone = bytesDone
        self.bytesTotal = bytesTotal
        self.error = error
        self.note = note
    }
}

public struct LoadPermit: Codable, Sendable, Hashable {
    public var granted: Bool
    public init(granted: Bool) { self.granted = granted }
}
