import FerryCore
import Foundation
import GRDB

extension FerryDatabase {
    /// How long a revoked certificate whose expiry is unknown stays on the list.
    static let unknownExpiryRetention: TimeInterval = 5 * 365 * 24 * 3600

    /// Records the certificate just issued to node `nodeID`. The one it held before, if any, is
    /// revoked when `revokePrevious` (a rejoin: the follower uses the new one from its next start),
    /// and so is `alsoRevoking` (another of the node's that the record does not name: issued
    /// after the backup this database was restored from).
    public func recordCertificate(
        nodeID: Int64, serial: String, expiresAt: Date, revokePrevious: Bool, alsoRevoking other: (serial: String, expiresAt: Date)? = nil,
        now: Date = Date()
    ) async throws {
        try await writer.write { db in
            guard var node = try NodeRecord.fetchOne(db, key: nodeID) else { throw FerryError(.notFound, "unknown node") }
            if revokePrevious, let previous = node.certificateSerial, previous != serial {
                try Self.revoke(serial: previous, of: node.name, expiresAt: node.certificateExpiresAt, now: now, db: db)
            }
            if let other, other.serial != serial {
                try Self.revoke(serial: other.serial, of: node.name, expiresAt: other.expiresAt, now: now, db: db)
            }
            node.certificateSerial = serial
            node.certificateExpiresAt = expiresAt
            try node.update(db)
        }
    }

    /// Serials of the revoked certificates not yet expired: what peers must refuse. Expired entries
    /// are dropped (TLS refuses those certificates anyway).
    public func revokedCertificateSerials(now: Date = Date()) async throws -> [String] {
        try await writer.read { db in
            try String.fetchAll(db, sql: "SELECT serial FROM revoked_certificates WHERE expires_at > ? ORDER BY serial", arguments: [now])
        }
    }

    /// Forgets revoked certificates that have expired.
    public func pruneRevokedCertificates(now: Date = Date()) async throws {
        try await writer.write { db in
            try db.execute(sql: "DELETE FROM revoked_certificates WHERE expires_at <= ?", arguments: [now])
        }
    }

    static func revoke(serial: String, of name: String, expiresAt: Date?, now: Date, db: Database) throws {
        try db.execute(
            sql: "INSERT OR IGNORE INTO revoked_certificates (serial, node_name, expires_at, revoked_at) VALUES (?, ?, ?, ?)",
            arguments: [serial, name, expiresAt ?? now.addingTimeInterval(unknownExpiryRetention), now])
    }
}
