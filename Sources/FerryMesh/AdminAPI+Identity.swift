import FerryCore
import Foundation

extension AdminAPI {
    /// `DELETE` (with `?force=true` to cut off a node still heartbeating or with unfinished
    /// targets): removes the node; answers a ``NodeRemovalReport``. Router form with `:name`.
    public static let node = "/admin/v1/nodes/:name"
    /// `POST` a ``JoinTokenRequest``; answers `201` with a ``CreatedJoinToken`` (the only time the
    /// token is shown). `GET`: a ``JoinTokenList``.
    public static let tokens = "/admin/v1/tokens"
    /// `DELETE`: revokes the token; answers its ``JoinTokenInfo``. Router form with `:id`.
    public static let token = "/admin/v1/tokens/:id"

    public static func node(name: String) -> String { "/admin/v1/nodes/\(name)" }
    public static func token(id: Int64) -> String { "/admin/v1/tokens/\(id)" }
}

/// What removing a node did.
public struct NodeRemovalReport: Codable, Sendable, Hashable {
    public var name: String
    /// Its unfinished install targets, failed with "node removed".
    public var failedTargets: Int

    public init(name: String, failedTargets: Int) {
        self.name = name
        self.failedTargets = failedTargets
    }
}

/// Ask the leader for a new join token.
public struct JoinTokenRequest: Codable, Sendable, Hashable {
    /// Seconds it is valid for; nil: until revoked.
    public var ttlSeconds: Int64?
    /// Joins it allows; nil: any number.
    public var uses: Int?
    public var description: String?

    public init(ttlSeconds: Int64? = nil, uses: Int? = nil, description: String? = nil) {
        self.ttlSeconds = ttlSeconds
        self.uses = uses
        self.description = description
    }

    /// The request, or `INVALID_ARGUMENT` naming the bad field.
    public func validated() throws(FerryError) -> JoinTokenRequest {
        if let ttlSeconds, ttlSeconds <= 0 || ttlSeconds > 10 * 366 * 86400 {
            throw FerryError(.invalidArgument, "invalid time to live of \(ttlSeconds) s: give one above 0 and at most 10 years")
        }
        if let uses, uses < 1 { throw FerryError(.invalidArgument, "invalid number of uses \(uses): give 1 or more, or none for unlimited") }
        if let description, description.count > 200 || description.contains(where: { $0.isNewline || $0.asciiValue.map { $0 < 0x20 } == true }) {
            throw FerryError(.invalidArgument, "invalid description: at most 200 characters on one line")
        }
        return self
    }
}

/// A join token as listed: never its secret.
public struct JoinTokenInfo: Codable, Sendable, Hashable {
    public var id: Int64
    public var description: String
    public var createdAt: Date
    public var expiresAt: Date?
    /// Joins made with it.
    public var uses: Int
    /// Joins left; nil when unlimited.
    public var usesLeft: Int?
    public var lastUsedAt: Date?
    public var revokedAt: Date?
    public var state: JoinTokenState

    public init(
        id: Int64, description: String, createdAt: Date, expiresAt: Date?, uses: Int, usesLeft: Int?, lastUsedAt: Date?, revokedAt: Date?,
        state: JoinTokenState
    ) {
        self.id = id
        self.description = description
        self.createdAt = createdAt
        self.expiresAt = expiresAt
        self.uses = uses
        self.usesLeft = usesLeft
        self.lastUsedAt = lastUsedAt
        self.revokedAt = revokedAt
        self.state = state
    }
}

/// A join token just made: `token` is shown this once (the leader keeps only its hash).
public struct CreatedJoinToken: Codable, Sendable, Hashable {
    public var token: String
    public var info: JoinTokenInfo

    public init(token: String, info: JoinTokenInfo) {
        self.token = token
        self.info = info
    }
}

public struct JoinTokenList: Codable, Sendable, Hashable {
    public var tokens: [JoinTokenInfo]
    public init(tokens: [JoinTokenInfo]) { self.tokens = tokens }
}
