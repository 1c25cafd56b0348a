import FerryCore
import FerryPolicy
import Foundation
import GRDB

extension FerryDatabase {
    /// Adds a node, or gives an existing node of that name a new credential.
    ///
    /// A name belongs to the node that joined with it: joining again under an existing name needs
    /// `proof`, the sha256 of that node's current credential (a follower that still has its
    /// `node.json`); anyone else is refused (`CONFLICT`) until an operator removes the node. A
    /// `joinToken` (its id; nil for the admin token) gives one of its uses, in the same transaction:
    /// a refused join takes none.
    ///
    /// The proof a join carried (on a first join, a secret the node made and kept) is kept as
    /// ``NodeRecord/joinProofHash`` until the node uses the credential that join gave
    /// (``heartbeat(nodeID:dockerVersion:dockerError:address:)``): a node that never received the
    /// answer, its credential as it was, repeats the join with the same proof and gets the name
    /// again, taking no second use of the token.
    public func join(
        name: String, address: String?, platform: String, credentialHash: String, proof: String? = nil, joinToken: Int64? = nil,
        now: Date = Date()
    ) async throws -> NodeRecord {
        try await writer.write { db in
            let existing = try NodeRecord.filter(NodeRecord.Columns.name == name && NodeRecord.Columns.removedAt == nil).fetchOne(db)
            let repeated = existing?.joinProofHash != nil && proof == existing?.joinProofHash
            if let existing, proof != existing.credentialHash, !repeated {
                throw FerryError(
                    .conflict,
                    "a node named '\(name)' has already joined; to give the name to this machine, remove that node first with `ferry nodes remove \(name)`, or join with its credential (keep its DATA_DIR/node.json)")
            }
            if let joinToken { try Self.useJoinToken(id: joinToken, now: now, taking: !repeated, db: db) }
            if var node = existing {
                node.address = address
                node.platform = platform
                node.credentialHash = credentialHash
                node.joinProofHash = proof
                node.lastSeen = now
                try node.update(db)
                return node
            }
            var node = NodeRecord(name: name, address: address, platform: platform, credentialHash: credentialHash, now: now)
            node.joinProofHash = proof
            try node.insert(db)
            return node
        }
    }

    /// Removes node `name` (`ferry nodes remove`): its unfinished install targets fail with
    /// "node removed", its credential stops matching, and its row stays — renamed `NAME~ID`, a name
    /// no node can join with — for the history of its installs, so that the name is free again.
    /// Unless `force`, a node still heartbeating (seen within `reachableWithin`) or with unfinished
    /// targets is refused (`CONFLICT`).
    public func removeNode(named name: String, force: Bool, reachableWithin heartbeat: Duration, now: Date = Date()) async throws -> NodeRemoval {
        try await writer.write { db in
            guard var node = try NodeRecord.filter(NodeRecord.Columns.name == name && NodeRecord.Columns.removedAt == nil).fetchOne(db),
                let id = node.id
            else {
                let known = try String.fetchAll(db, NodeRecord.select(NodeRecord.Columns.name).filter(NodeRecord.Columns.removedAt == nil).order(NodeRecord.Columns.name))
                throw FerryError(
                    .notFound, "no node named '\(name.prefix(80))'; " + (known.isEmpty ? "no node has joined" : "known nodes: \(known.joined(separator: ", "))"))
            }
            let unfinished = InstallTargetRecord.filter(
                InstallTargetRecord.Columns.nodeId == id && TargetState.unfinished.contains(InstallTargetRecord.Columns.state))
            if !force {
                let reachable = InstallRules.isReachable(lastSeen: node.lastSeen, now: now, heartbeat: heartbeat)
                let pending = try unfinished.fetchCount(db)
                if reachable {
                    let seconds = Int(InstallRules.reachableWindow(heartbeat: heartbeat))
                    throw FerryError(
                        .conflict,
                        "node '\(name)' is still heartbeating (a node counts as stopped \(seconds) s after its last heartbeat); stop its follower first and retry then, or pass --force to cut it off now (a stolen node: its targets fail)")
                }
                if pending > 0 {
                    throw FerryError(
                        .conflict,
                        "node '\(name)' has \(pending) unfinished install target\(pending == 1 ? "" : "s"): pass --force to fail \(pending == 1 ? "it" : "them") and remove the node, or let \(pending == 1 ? "it" : "them") finish (start the follower again)")
                }
            }
            var failed = 0
            for var target in try unfinished.fetchAll(db) {
                guard case .moved = target.apply(.nodeRemoved, now: now) else { continue }
                try target.update(db)
                failed += 1
            }
            let removed = node
            // Its certificate goes on the revocation list every heartbeat answer carries.
            if let serial = node.certificateSerial {
                try Self.revoke(serial: serial, of: name, expiresAt: node.certificateExpiresAt, now: now, db: db)
            }
            node.name = "\(name)~\(id)"
            node.credentialHash = "removed:\(id)"
            node.joinProofHash = nil
            node.removedAt = now
            try node.update(db)
            return NodeRemoval(node: removed, failedTargets: failed)
        }
    }

    /// The node holding a credential of this hash (never a removed node).
    public func node(credentialHash: String) async throws -> NodeRecord? {
        try await writer.read { db in
            try NodeRecord.filter(NodeRecord.Columns.credentialHash == credentialHash && NodeRecord.Columns.removedAt == nil).fetchOne(db)
        }
    }

    public func node(id: Int64) async throws -> NodeRecord? {
        try await writer.read { db in try NodeRecord.fetchOne(db, key: id) }
    }

    /// The nodes of the cluster (removed ones left out), by name.
    public func nodes() async throws -> [NodeRecord] {
        try await writer.read { db in try NodeRecord.filter(NodeRecord.Columns.removedAt == nil).order(NodeRecord.Columns.name).fetchAll(db) }
    }

    /// The name of every node that ever joined, removed ones (`NAME~ID`) included, by id: what
    /// install histories show.
    public func nodeNames() async throws -> [Int64: String] {
        try await writer.read { db in
            Dictionary(uniqueKeysWithValues: try Row.fetchAll(db, sql: "SELECT id, name FROM nodes").map { ($0["id"], $0["name"]) })
        }
    }

    /// Records that the node was seen at `now`.
    public func heartbeat(nodeID: Int64, now: Date = Date()) async throws {
        try await writer.write { db in
            try db.execute(sql: "UPDATE nodes SET last_seen = ?, join_proof_hash = NULL WHERE id = ?", arguments: [now, nodeID])
        }
    }

    /// Records a heartbeat: when the node was seen and how its Docker engine is. The node uses
    /// the credential its last join gave: that join's proof no longer joins.
    public func heartbeat(nodeID: Int64, dockerVersion: String?, dockerError: String?, address: String? = nil) async throws {
        try await writer.write { db in
            try db.execute(
                // An unspecified host an earlier leader recorded as sent
                // names no machine: dropped at the node's next heartbeat.
                sql: """
                    UPDATE nodes SET last_seen = ?, docker_version = ?, docker_error = ?, join_proof_hash = NULL,
                        address = CASE WHEN ? IS NULL AND (address LIKE '%://0.0.0.0:%' OR address LIKE '%://[::]:%') THEN NULL
                                       ELSE COALESCE(?, address) END
                    WHERE id = ?
                    """,
                arguments: [Date(), dockerVersion, dockerError, address, address, nodeID])
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

/// What ``FerryDatabase/removeNode(named:force:reachableWithin:now:)`` did.
public struct NodeRemoval: Sendable, Hashable {
    /// The node as it was before its removal.
    public var node: NodeRecord
    /// Its unfinished install targets, now failed.
    public var failedTargets: Int
}
