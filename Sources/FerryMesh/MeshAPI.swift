import FerryCore
import Foundation

/// The coordination API between followers and the leader: routes and wire types, shared by the
/// server and ``MeshClient``. Every route needs a credential: the join token for `join`, the
/// node's own credential for the rest.
public enum MeshAPI {
    /// `POST` a ``JoinRequest`` with the join token as Bearer; answers a ``JoinResponse``, `401` for
    /// an expired, used-up or revoked token, `409` for a name another node holds.
    public static let join = "/mesh/v1/join"
    /// `POST` a ``Heartbeat``; answers 200 with a ``HeartbeatResponse`` (JSON: whether to send
    /// a full inventory).
    public static let heartbeat = "/mesh/v1/heartbeat"
    /// `GET` with `?wait=SECONDS` (long poll, at most 60) and `&known=ID,ID…` (the target ids
    /// of the node's last answer, at most ``maxKnownTargets``): answers a ``WorkResponse`` at once
    /// when the node's targets differ from `known`, else when they change or the wait is over.
    public static let work = "/mesh/v1/work"
    /// The most target ids a work request sends back as `known`.
    public static let maxKnownTargets = 1000
    /// `POST` a ``TargetReport``; answers 204, or 409 if the transition is refused.
    public static let report = "/mesh/v1/targets/:id/report"
    /// `POST` with `?wait=SECONDS`: waits for a load slot; answers a ``LoadPermit``.
    public static let load = "/mesh/v1/targets/:id/load"
    /// `POST` a ``SourceRequest``: where to fetch a blob from; answers a ``SourceList``.
    public static let sources = "/mesh/v1/sources"
    /// `POST` a ``SourceBatch``: sources for several blobs in one request, at most
    /// ``maxSourceBatch``; answers a ``SourceBatchAnswer``, one ``SourceAnswer`` per request, in
    /// order. It never waits: a blob that only the leader is about to receive answers
    /// ``SourceAnswer/askAlone``, and the node asks for it with ``sources``, which waits for it.
    public static let sourceBatch = "/mesh/v1/sources/batch"
    /// The most requests in one ``SourceBatch``.
    public static let maxSourceBatch = 64
    /// `POST` a ``BlobEvents``: what the node holds, receives, or threw away; answers 204.
    public static let blobs = "/mesh/v1/blobs"
    /// `POST` a ``CertificateRequest``: a new TLS certificate for a key the node made (renewal);
    /// answers a ``CertificateResponse``. The node's previous certificate is revoked.
    public static let certificate = "/mesh/v1/certificate"

    public static func report(target: Int64) -> String { "/mesh/v1/targets/\(target)/report" }
    public static func load(target: Int64) -> String { "/mesh/v1/targets/\(target)/load" }

    /// The `401` message for a request without a credential the server knows; any other `401`
    /// message says why a known credential was refused (an expired join token, say).
    public static let authenticationRequired = "authentication required: send the token as a Bearer token or as the password of HTTP Basic"

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
    /// The node's public key (PEM) for the TLS certificate the leader issues it; nil on a plain-HTTP mesh.
    public var publicKey: String?
    /// The proof that the node is the one holding the name (a name belongs to the node that
    /// joined with it): the credential it already holds when it joins again under its own name,
    /// or on a first join a secret it made and keeps until it has its identity. The leader takes
    /// the proof of a node's last join again until the node uses the credential that join gave:
    /// a node that never received the answer repeats the join. A leader before 2026-12-07
    /// ignores it on a first join.
    public var credential: String?
    /// The mesh protocol version the node speaks (``FerryVersion/meshProtocol``); nil from
    /// Ferry 0.1.0, which spoke version 1.
    public var protocolVersion: Int?

    public init(
        name: String, address: String?, platform: String, publicKey: String? = nil, credential: String? = nil,
        protocolVersion: Int? = FerryVersion.meshProtocol
    ) {
        self.protocolVersion = protocolVersion
        self.name = name
        self.address = address
        self.platform = platform
        self.publicKey = publicKey
        self.credential = credential
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
    /// The leader's Ed25519 public key (base64, raw 32 bytes): it signs peer tokens.
    public var peerKey: String
    /// The node's TLS certificate (PEM), issued by the cluster CA for the public key it sent.
    public var certificate: String?

    public init(nodeID: Int64, name: String, credential: String, heartbeatSeconds: Int, peerKey: String, certificate: String? = nil) {
        self.certificate = certificate
        self.nodeID = nodeID
        self.name = name
        self.credential = credential
        self.heartbeatSeconds = heartbeatSeconds
        self.peerKey = peerKey
    }
}

/// The leader's answer to a heartbeat.
public struct HeartbeatResponse: Codable, Sendable, Hashable {
    /// The leader does not know what the node holds (it restarted): send a full ``BlobEvents`` inventory.
    public var sendInventory: Bool
    /// Serials (lowercase hex) of the node certificates the leader revoked and that have not yet
    /// expired: the follower's server refuses clients presenting one (nil from older leaders).
    public var revokedCertificates: [String]?
    /// The leader holds no record of the node's certificate (issued before they were recorded):
    /// renew it now (``MeshAPI/certificate``).
    public var renewCertificate: Bool?
    /// Blobs the node's peers reported its copy of as corrupt, enough of them for the node to be
    /// flagged: re-hash each, and drop a copy that fails (nil from older leaders, and when none).
    public var recheckBlobs: [Digest]?
    public init(sendInventory: Bool, revokedCertificates: [String]? = nil, renewCertificate: Bool? = nil, recheckBlobs: [Digest]? = nil) {
        self.sendInventory = sendInventory
        self.revokedCertificates = revokedCertificates
        self.renewCertificate = renewCertificate
        self.recheckBlobs = recheckBlobs
    }
}

/// A node asks for a new TLS certificate (``MeshAPI/certificate``).
public struct CertificateRequest: Codable, Sendable, Hashable {
    /// The PEM public key of a key pair the node just made.
    public var publicKey: String
    /// The certificate the node uses now, with proof that it holds its key: the leader revokes
    /// it too when its record names another (a leader restored from an older backup). Nil from
    /// older followers.
    public var current: PossessionProof?

    public init(publicKey: String, current: PossessionProof? = nil) {
        self.publicKey = publicKey
        self.current = current
    }
}

/// The leader's answer to a ``CertificateRequest``.
public struct CertificateResponse: Codable, Sendable, Hashable {
    /// The node's new certificate (PEM), issued by the cluster CA.
    public var certificate: String
    public init(certificate: String) { self.certificate = certificate }
}

/// Where should this node fetch a blob from?
public struct SourceRequest: Codable, Sendable, Hashable {
    public var digest: Digest
    public var size: Int64
    /// Bytes the node already holds (it resumes from there).
    public var have: Int64
    /// The repository name to use in `/v2/` URLs.
    public var repository: String
    /// Sources that just failed for this blob (not chosen again in this answer).
    public var failed: [String]

    public init(digest: Digest, size: Int64, have: Int64, repository: String, failed: [String] = []) {
        self.digest = digest
        self.size = size
        self.have = have
        self.repository = repository
        self.failed = failed
    }
}

/// A place to fetch a blob from, best first.
public struct BlobSource: Codable, Sendable, Hashable {
    /// The node's name (`leader` for the leader).
    public var node: String
    public var kind: SourceKind
    /// `GET` this URL (it supports `Range`); for the leader, a path relative to the leader's URL.
    public var url: String
    /// Send as `Authorization: Bearer …`: a peer token for peers; nil for the leader (use the node credential).
    public var token: String?

    public init(node: String, kind: SourceKind, url: String, token: String?) {
        self.node = node
        self.kind = kind
        self.url = url
        self.token = token
    }
}

public struct SourceList: Codable, Sendable, Hashable {
    public var sources: [BlobSource]
    /// Sources of the request's `failed` that have since thrown their own copy of the blob away
    /// (they reported it bad): bytes from them are suspect, and a node holding some discards
    /// what it holds and asks again from the start. Absent (older leaders, or none): keep them.
    public var suspect: [String]?
    public init(sources: [BlobSource], suspect: [String]? = nil) {
        self.sources = sources
        self.suspect = suspect
    }
}

/// What happened to blobs on a node.
public struct BlobEvent: Codable, Sendable, Hashable {
    /// Followers before the first-hand evidence rules send only the first four.
    public enum Kind: String, Sendable, Hashable, CaseIterable, WireState {
        /// The node started receiving it (it can serve the bytes it has).
        case receiving
        /// The node holds it, verified.
        case present
        /// The node stopped receiving it or dropped it (nothing to serve).
        case gone
        /// The bytes it received failed verification: `sources` served them (one source: conclusive).
        case corrupt
        /// The one source in `sources` sent more bytes than the blob has.
        case overflow
        /// The one source in `sources` sent no byte for the stall timeout, or less than the floor a
        /// peer must keep (32 KiB in 10 s, `ProgressFloor`).
        case stalled
        /// The one source in `sources` ended its transfer before the blob's end.
        case truncated
    }

    public var digest: Digest
    public var kind: Kind
    public var size: Int64
    /// For `receiving`: where from. For `corrupt`: every source that contributed bytes. For
    /// `overflow`, `stalled`, `truncated`: the source that did it. The leader counts only sources
    /// its tracker handed this node for this blob.
    public var sources: [String]

    public init(digest: Digest, kind: Kind, size: Int64, sources: [String] = []) {
        self.digest = digest
        self.kind = kind
        self.size = size
        self.sources = sources
    }
}

public struct BlobEvents: Codable, Sendable, Hashable {
    public var events: [BlobEvent]
    /// When true, `events` is the node's whole inventory (`present` blobs) and replaces what the leader knew.
    public var inventory: Bool

    public init(events: [BlobEvent], inventory: Bool = false) {
        self.events = events
        self.inventory = inventory
    }
}

public struct Heartbeat: Codable, Sendable, Hashable {
    /// The Docker engine's version, when it answered.
    public var dockerVersion: String?
    /// Why the Docker engine did not answer.
    public var dockerError: String?
    /// The URL other nodes reach this one at, once it listens (it may not be known at join).
    public var address: String?
    /// The mesh protocol version the node speaks; nil from Ferry 0.1.0 (version 1).
    public var protocolVersion: Int?
    /// The serial of the TLS certificate the node uses (nil from followers before 0.2.0, and on a
    /// plain-HTTP mesh): one the leader did not issue last means the node missed a renewal's
    /// answer, or the leader was restored from a backup older than it.
    public var certificateSerial: String?

    public init(
        dockerVersion: String?, dockerError: String?, address: String? = nil, protocolVersion: Int? = FerryVersion.meshProtocol,
        certificateSerial: String? = nil
    ) {
        self.certificateSerial = certificateSerial
        self.protocolVersion = protocolVersion
        self.dockerVersion = dockerVersion
        self.dockerError = dockerError
        self.address = address
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
    /// What the reference resolved to: an index (manifest list) that names ``manifestDigest``, or
    /// ``manifestDigest`` itself. The node's mirror serves the tag as this, as the upstream does.
    /// Nil from leaders before it was sent.
    public var topDigest: Digest?

    public init(
        targetID: Int64, installID: Int64, reference: String, registry: String, repository: String, manifestDigest: Digest,
        size: Int64, state: TargetState, topDigest: Digest? = nil
    ) {
        self.targetID = targetID
        self.installID = installID
        self.reference = reference
        self.registry = registry
        self.repository = repository
        self.manifestDigest = manifestDigest
        self.size = size
        self.state = state
        self.topDigest = topDigest
    }
}

public struct WorkResponse: Codable, Sendable, Hashable {
    public var items: [WorkItem]
    /// The node's rollout work (absent from leaders before rollouts, and when there is none).
    public var switches: [SwitchWorkItem]?
    public init(items: [WorkItem], switches: [SwitchWorkItem]? = nil) {
        self.items = items
        self.switches = switches
    }
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

    /// The largest byte count a node may report (1 PiB): no image is larger.
    public static let maxBytes: Int64 = 1 << 50

    /// Refuses (`400`) counts no transfer can have: negative, or past ``maxBytes``. What a node
    /// reports is shown to operators and summed: not trusted (the leader also keeps `bytesDone`
    /// at most `bytesTotal`).
    public func validate() throws(FerryError) {
        for (name, value) in [("bytesDone", bytesDone), ("bytesTotal", bytesTotal)] {
            if let value, !(0...Self.maxBytes).contains(value) {
                throw FerryError(.invalidArgument, "\(name) must be between 0 and \(Self.maxBytes), got \(value)")
            }
        }
    }
}

public struct LoadPermit: Codable, Sendable, Hashable {
    public var granted: Bool
    public init(granted: Bool) { self.granted = granted }
}
