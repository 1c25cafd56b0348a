import FerryCore
import Foundation
import GRDB

extension FerryDatabase {
    /// What ``releaseImages(missing:)`` did.
    public struct MissingBlobOutcome: Sendable {
        /// Images needed now (``neededImageIDs(_:)``) that lack a blob: to fetch again at once.
        public var refetch: [ImageRecord] = []
        /// Images no longer held, now ``ImageState/failed`` saying why: fetched again when an
        /// install or fetch asks.
        public var released: [ImageRecord] = []
    }

    /// Why a released image is no longer held.
    public static let missingBlobsError = FerryError(
        FerryError.Code("STORE_INCOMPLETE"),
        "blobs of this image are missing from the store (a backup restored without --with-store, or a lost file); it is fetched again when an install or fetch asks for it")

    /// After a restart: `digests` were recorded present but the store lacks them (a backup
    /// restored without its store, a file lost). Each is marked missing, and each present image
    /// that uses one is no longer held: an image needed now is returned to be fetched again at
    /// once; any other is marked ``ImageState/failed`` with ``missingBlobsError``, keeping its
    /// links, its other blobs and the digest its tag served (so `--pull missing` gets the same
    /// version back), so that the upstream link carries only what an install asks for.
    public func releaseImages(missing digests: [Digest]) async throws -> MissingBlobOutcome {
        guard !digests.isEmpty else { return MissingBlobOutcome() }
        return try await writer.write { db in
            let now = Date()
            var outcome = MissingBlobOutcome()
            for digest in digests {
                try db.execute(
                    sql: "UPDATE blobs SET state = 'missing', bytes_done = 0, error_code = NULL, error_message = NULL, updated_at = ? WHERE digest = ?",
                    arguments: [now, digest])
            }
            let placeholders = Array(repeating: "?", count: digests.count).joined(separator: ",")
            // A failed image whose running targets go on with its held digests (another install's
            // resolution of its tag failed) is held as much as a present one.
            let affected = try ImageRecord.fetchAll(
                db,
                sql: """
                    SELECT * FROM images WHERE (state = 'present' OR (state = 'failed' AND id IN (
                        SELECT t.image_id FROM install_targets t JOIN installs s ON s.id = t.install_id
                        WHERE s.state = 'running' AND t.resolved AND t.state NOT IN ('done', 'failed'))))
                    AND id IN (SELECT image_id FROM image_blobs WHERE digest IN (\(placeholders))) ORDER BY id
                    """,
                arguments: StatementArguments(digests))
            let needed = try Self.neededImageIDs(db)
            for image in affected {
                if needed.contains(image.id!) {
                    outcome.refetch.append(image)
                } else {
                    try db.execute(
                        sql: "UPDATE images SET state = 'failed', error_code = ?, error_message = ?, updated_at = ? WHERE id = ?",
                        arguments: [Self.missingBlobsError.code.rawValue, Self.missingBlobsError.message, now, image.id])
                    outcome.released.append(image)
                }
            }
            return outcome
        }
    }
}
