import FerryCore
import Foundation
import GRDB

extension FerryDatabase {
    /// Adds a node, or gives an existing node of that name a new credential (a node that lost
    /// its credential joins again with the join token).
    public func join(name: String, address: String?, platform: String, credentialHash: String) async throws -> NodeRecord {
        try await writer.write { db in
            let now = Date()
            if var node = try NodeRecord.filter(NodeRecord.Columns.name == name).fetchOne(db) {
                node.address = address
                node.platform = platform
                node.credentialHash = credentialHash
                node.lastSeen = now
                try node.update(db)
                return node
            }
            var node = NodeRecord(name: name, address: address, platform: platform, credentialHash: credentialHash, now: now)
            try node.insert(db)
            return node
        }
    }

    public func node(credentialHash: String) async throws -> NodeRecord? {
        try await writer.read { db in try NodeRecord.filter(NodeRecord.Columns.credentialHash == credentialHash).fetchOne(db) }
    }

    public func node(id: Int64) async throws -> NodeRecord? {
        try await writer.read { db in try NodeRecord.fetchOne(db, key: id) }
    }

    public func nodes() async throws -> [NodeRecord] {
        try await writer.read { db in try NodeRecord.order(NodeRecord.Columns.name).fetchAll(db) }
    }

    /// Records that the node was seen now.
    public func heartbeat(nodeID: Int64) async throws {
        try await writer.write { db in
            try db.execute(sql: "UPDATE nodes SET last_seen = ? WHERE id = ?", arguments: [Date(), nodeID])
        }
    }

    /// Records a heartbeat: when the node was seen and how its Docker engine is.
    public func heartbeat(nodeID: Int64, dockerVersion: String?, dockerError: String?, address: String? = nil) async throws {
        try await writer.write { db in
            try db.execute(
                sql: "UPDATE nodes SET last_seen = ?, docker_version = ?, docker_error = ?, address = COALESCE(?, address) WHERE id = ?",
                arguments: [Date(), dockerVersion, dockerError, address, nodeID])
        }
    }

    /// References of the images each node holds, by node id: the images of its `done` targets.
    public func heldImages() async throws -> [Int64: [String]] {
        try await writer.read { db in
            let rows = try Row.fetchAll(
                db,
                sql: """
                    SELECT DISTINCT t.node_id, i.reference FROM install_targets t JOIN images i ON i.id = t.image_id
                    WHERE t.state = 'done' ORDER BY i.reference
                    """)
            var held: [Int64: [String]] = [:]
            for row in rows { held[row["node_id"], default: []].append(row["reference"]) }
            return held
        }
    }
}
