import FerryCore
import Foundation
import GRDB

extension FerryDatabase {
    public func blob(_ digest: Digest) async throws -> BlobRecord? {
        try await writer.read { db in try BlobRecord.fetchOne(db, key: digest) }
    }

    /// Moves a blob to `state`, recording progress and, for `failed`, the reason.
    public func setBlobState(_ digest: Digest, _ state: BlobState, bytesDone: Int64? = nil, error: FerryError? = nil) async throws {
        try await writer.write { db in
            guard var blob = try BlobRecord.fetchOne(db, key: digest) else { return }
            blob.state = state
            if let bytesDone { blob.bytesDone = bytesDone }
            if state == .present { blob.bytesDone = blob.size }
            blob.errorCode = error?.code.rawValue
            blob.errorMessage = error?.message
            blob.updatedAt = Date()
            try blob.update(db)
        }
    }

    /// Where `digest` can be fetched from upstream again: the blob and the registry and repository
    /// of the most recently requested image that uses it (nil if no image does).
    public func upstreamSource(of digest: Digest) async throws -> (blob: BlobRecord, registry: String, repository: String)? {
        try await writer.read { db in
            guard let blob = try BlobRecord.fetchOne(db, key: digest),
                let row = try Row.fetchOne(
                    db,
                    sql: """
                        SELECT i.registry, i.repository FROM image_blobs ib JOIN images i ON i.id = ib.image_id
                        WHERE ib.digest = ? ORDER BY i.requested_at DESC LIMIT 1
                        """,
                    arguments: [digest])
            else { return nil }
            return (blob, row["registry"], row["repository"])
        }
    }

    /// Blobs recorded as `present`: what a startup check compares with the store.
    public func presentBlobs() async throws -> [BlobRecord] {
        try await writer.read { db in try BlobRecord.filter(BlobRecord.Columns.state == BlobState.present).fetchAll(db) }
    }

    /// Records an update of many blobs' progress in one transaction.
    public func recordProgress(_ progress: [Digest: Int64]) async throws {
        guard !progress.isEmpty else { return }
        try await writer.write { db in
            let now = Date()
            for (digest, bytes) in progress {
                try db.execute(
                    sql: "UPDATE blobs SET bytes_done = ?, updated_at = ? WHERE digest = ? AND state = 'fetching'",
                    arguments: [bytes, now, digest])
            }
        }
    }
}
