import FerryCore
import Foundation
import GRDB

/// A join token the leader accepts. Only the sha256 of its secret is kept: the token itself is
/// shown once, when it is created (or lives in the leader's `DATA_DIR/join-token` file).
public struct JoinTokenRecord: Codable, Sendable, Hashable, FetchableRecord, MutablePersistableRecord {
    public static let databaseTableName = "join_tokens"

    public var id: Int64?
    /// sha256 of the token's secret (the middle part of `fjt1.<secret>.<fingerprint>`).
    public var secretHash: String
    /// What the operator said it is for.
    public var description: String
    /// The leader's `DATA_DIR/join-token` (made at first start); revoked when that file is replaced.
    public var fromFile: Bool
    public var createdAt: Date
    public var expiresAt: Date?
    public var maxUses: Int?
    public var uses: Int
    public var lastUsedAt: Date?
    public var revokedAt: Date?

    public enum Columns {
        public static let id = Column("id")
        public static let secretHash = Column("secret_hash")
        public static let fromFile = Column("from_file")
        public static let revokedAt = Column("revoked_at")
    }

    public init(
        secretHash: String, description: String, fromFile: Bool = false, createdAt: Date, expiresAt: Date? = nil, maxUses: Int? = nil
    ) {
        self.secretHash = secretHash
        self.description = description
        self.fromFile = fromFile
        self.createdAt = createdAt
        self.expiresAt = expiresAt
        self.maxUses = maxUses
        self.uses = 0
    }

    /// Its limits, for the rules in ``JoinTokenLimits``.
    public var limits: JoinTokenLimits {
        get { JoinTokenLimits(expiresAt: expiresAt, maxUses: maxUses, uses: uses, revokedAt: revokedAt) }
        set {
            expiresAt = newValue.expiresAt
            maxUses = newValue.maxUses
            uses = newValue.uses
            revokedAt = newValue.revokedAt
        }
    }

    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }

    public static let databaseColumnDecodingStrategy = DatabaseColumnDecodingStrategy.convertFromSnakeCase
    public static let databaseColumnEncodingStrategy = DatabaseColumnEncodingStrategy.convertToSnakeCase
}
