import FerryCore
import GRDB

extension FerryDatabase {
    /// Whether the node `nodeID` has business with `digest`: it is a blob or a manifest of an
    /// image the node is installing (a target not finished) or holds (a `done` target). What a
    /// node credential may read from the leader, and get sources and peer tokens for.
    ///
    /// One query over indexes: `image_blobs(digest)` and `image_manifests(digest)` give the
    /// images, `install_targets(image_id)` their targets.
    public func node(_ nodeID: Int64, mayRead digest: Digest) async throws -> Bool {
        try await writer.read { db in
            try Bool.fetchOne(
                db,
                sql: """
                    SELECT EXISTS (
                        SELECT 1 FROM install_targets
                        WHERE node_id = ? AND state != ?
                        AND image_id IN (
                            SELECT image_id FROM image_blobs WHERE digest = ?
                            UNION ALL SELECT image_id FROM image_manifests WHERE digest = ?))
                    """,
                arguments: [nodeID, TargetState.failed, digest, digest]) ?? false
        }
    }
}
