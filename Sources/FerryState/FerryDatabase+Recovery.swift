import FerryCore
import Foundation
import GRDB

extension FerryDatabase {
    /// What ``releaseImages(missing:)`` did.
    public struct MissingBlobOutcome: Sendable {
        /// Images in use (``pinnedImageIDs(_:)``) that need a missing blob: to fetch again now.
        public var refetch: [ImageRecord] = []
        /// Images no longer held, now ``ImageState/removed``: fetched again when an install asks.
        public var released: [ImageRecord] = []
    }

    /// After a restart: `digests` were recorded present but the store lacks them (a backup
    /// restored without its store, a file lost). Each is marked missing, and each present image
    /// that uses one is no longer held: an image in use is returned to be fetched again at once,
    /// any other is released (``ImageState/removed``), so the upstream link carries only what an
    /// install asks for.
    public func releaseImages(missing digests: [Digest]) async throws -> MissingBlobOutcome {
        guard !digests.isEmpty else { return MissingBlobOutcome() }
        return try await writer.write { db in
            let now = Date()
            var outcome = MissingBlobOutcome()
            for digest in digests {
                try db.execute(sql: "UPDATE blobs SET state = 'missing', bytes_done = 0, error_code = NULL, error_message = NULL, updated_at = ? WHERE digest = ?", arguments: [now, digest])
            }
            let placeholders = Array(repeating: "?", count: digests.count).joined(separator: ",")
            let affected = try ImageRecord.fetchAll(
                db,
                sql: """
                    SELECT * FROM images WHERE state = 'present'
                    AND id IN (SELECT image_id FROM image_blobs WHERE digest IN (\(placeholders))) ORDER BY id
                    """,
                arguments: StatementArguments(digests))
            let pinned = try Self.pinnedImageIDs(db)
            for image in affected {
                if pinned.contains(image.id!) {
                    outcome.refetch.append(image)
                } else {
                    try Self.release(imageID: image.id!, db, now: now, deleteUnnamed: false)
                    outcome.released.append(image)
                }
            }
            return outcome
        }
    }
}
