import FerryCore
import GRDB

extension FerryDatabase {
    /// Digests of the blobs of every image `nodeID` has a `done` install target for: what the node
    /// is known to hold (the proof its inventory's `present` claims need after a leader restart).
    public func installedBlobs(nodeID: Int64) async throws -> Set<Digest> {
        try await writer.read { db in
            let digests = try Digest.fetchAll(
                db,
                sql: """
                    SELECT DISTINCT b.digest FROM install_targets t JOIN image_blobs b ON b.image_id = t.image_id
                    WHERE t.node_id = ? AND t.state = ?
                    """,
                arguments: [nodeID, TargetState.done])
            return Set(digests)
        }
    }
}
