import FerryCore
import Foundation
import GRDB

extension FerryDatabase {
    /// Records a new join token (by the hash of its secret).
    public func createJoinToken(
        secretHash: String, description: String, expiresAt: Date? = nil, maxUses: Int? = nil, now: Date = Date()
    ) async throws -> JoinTokenRecord {
        try await writer.write { db in
            var token = JoinTokenRecord(secretHash: secretHash, description: description, createdAt: now, expiresAt: expiresAt, maxUses: maxUses)
            try token.insert(db)
            return token
        }
    }

    /// Every join token, oldest first.
    public func joinTokens() async throws -> [JoinTokenRecord] {
        try await writer.read { db in try JoinTokenRecord.order(JoinTokenRecord.Columns.id).fetchAll(db) }
    }

    /// The join token whose secret hashes to `secretHash`, whatever its state.
    public func joinToken(secretHash: String) async throws -> JoinTokenRecord? {
        try await writer.read { db in try JoinTokenRecord.filter(JoinTokenRecord.Columns.secretHash == secretHash).fetchOne(db) }
    }

    /// Revokes a join token: joins with it are refused from now on. Revoking a revoked token
    /// changes nothing.
    public func revokeJoinToken(id: Int64, now: Date = Date()) async throws -> JoinTokenRecord {
        try await writer.write { db in
            guard var token = try JoinTokenRecord.fetchOne(db, key: id) else {
                throw FerryError(.notFound, "no join token with id \(id); `ferry token list` shows them")
            }
            if token.revokedAt == nil {
                token.revokedAt = now
                try token.update(db)
            }
            return token
        }
    }

    /// Makes the leader's `DATA_DIR/join-token` file a join token (no expiry, any number of uses):
    /// recorded the first time this leader sees it, as it is afterwards (an operator may have
    /// revoked it). Earlier file tokens — the file was deleted and made anew — are revoked.
    /// Returns the file's token and whether it was recorded now.
    @discardableResult
    public func adoptFileJoinToken(secretHash: String, now: Date = Date()) async throws -> (token: JoinTokenRecord, recorded: Bool) {
        try await writer.write { db in
            try db.execute(
                sql: "UPDATE join_tokens SET revoked_at = ? WHERE from_file AND revoked_at IS NULL AND secret_hash != ?",
                arguments: [now, secretHash])
            if let existing = try JoinTokenRecord.filter(JoinTokenRecord.Columns.secretHash == secretHash).fetchOne(db) {
                return (existing, false)
            }
            var token = JoinTokenRecord(secretHash: secretHash, description: "the leader's DATA_DIR/join-token file", fromFile: true, createdAt: now)
            try token.insert(db)
            return (token, true)
        }
    }

    /// Takes one use of join token `id` in `db` (inside the join's transaction), or throws why it
    /// cannot be used (``JoinTokenLimits/use(at:id:taking:)``); with `taking: false` (a repeated
    /// join) it only checks that the token is neither expired nor revoked.
    static func useJoinToken(id: Int64, now: Date, taking: Bool = true, db: Database) throws {
        guard var token = try JoinTokenRecord.fetchOne(db, key: id) else {
            throw FerryError(.unauthorized, "the join token \(id) no longer exists; create a new one on the leader with `ferry token create`")
        }
        try token.limits.use(at: now, id: id, taking: taking)
        token.lastUsedAt = now
        try token.update(db)
    }
}
