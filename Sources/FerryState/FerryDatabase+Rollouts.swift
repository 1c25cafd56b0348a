import FerryCore
import Foundation
import GRDB

extension FerryDatabase {
    /// A stored rollout: its state machine as JSON (decoded by the coordinator).
    public struct StoredRollout: Sendable, Hashable {
        public var id: String
        public var image: String
        public var phase: String
        public var stateJSON: String
        public var createdAt: Date
        public var updatedAt: Date
    }

    /// Inserts or replaces a rollout's state.
    public func saveRollout(id: String, image: String, phase: String, stateJSON: String, now: Date = Date()) async throws {
        try await writer.write { db in
            try db.execute(
                sql: """
                    INSERT INTO rollouts (id, image, phase, state_json, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)
                    ON CONFLICT(id) DO UPDATE SET phase = excluded.phase, state_json = excluded.state_json, updated_at = excluded.updated_at
                    """,
                arguments: [id, image, phase, stateJSON, now, now])
        }
    }

    /// Every rollout, oldest first.
    public func rollouts() async throws -> [StoredRollout] {
        try await writer.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM rollouts ORDER BY created_at, id").map(Self.rollout)
        }
    }

    /// The rollout `id`, or nil.
    public func rollout(id: String) async throws -> StoredRollout? {
        try await writer.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM rollouts WHERE id = ?", arguments: [id]).map(Self.rollout)
        }
    }

    private static func rollout(_ row: Row) -> StoredRollout {
        StoredRollout(
            id: row["id"], image: row["image"], phase: row["phase"], stateJSON: row["state_json"], createdAt: row["created_at"],
            updatedAt: row["updated_at"])
    }

    /// Inserts or replaces the record of the switch of container `name`.
    public func saveContainerSwitch(name: String, rollout: String, recordJSON: String, now: Date = Date()) async throws {
        try await writer.write { db in
            try db.execute(
                sql: """
                    INSERT INTO container_switches (name, rollout, record_json, updated_at) VALUES (?, ?, ?, ?)
                    ON CONFLICT(name) DO UPDATE SET rollout = excluded.rollout, record_json = excluded.record_json, updated_at = excluded.updated_at
                    """,
                arguments: [name, rollout, recordJSON, now])
        }
    }

    /// Forgets the switch record of container `name`.
    public func removeContainerSwitch(name: String) async throws {
        try await writer.write { db in try db.execute(sql: "DELETE FROM container_switches WHERE name = ?", arguments: [name]) }
    }

    /// The switch records not over, oldest first.
    public func containerSwitches() async throws -> [String] {
        try await writer.read { db in
            try String.fetchAll(db, sql: "SELECT record_json FROM container_switches ORDER BY updated_at, name")
        }
    }

    /// Remembers a container a rollout replaced (JSON of the follower's entry), replacing an earlier one.
    public func saveReplacedContainer(rollout: String, name: String, oldImageID: String, entryJSON: String, now: Date = Date()) async throws {
        try await writer.write { db in
            try db.execute(
                sql: """
                    INSERT INTO replaced_containers (rollout, name, old_image_id, entry_json, replaced_at) VALUES (?, ?, ?, ?, ?)
                    ON CONFLICT(rollout, name) DO UPDATE SET old_image_id = excluded.old_image_id, entry_json = excluded.entry_json
                    """,
                arguments: [rollout, name, oldImageID, entryJSON, now])
        }
    }

    /// The entries of containers `rollout` replaced, oldest first.
    public func replacedContainers(rollout: String) async throws -> [String] {
        try await writer.read { db in
            try String.fetchAll(db, sql: "SELECT entry_json FROM replaced_containers WHERE rollout = ? ORDER BY replaced_at, name", arguments: [rollout])
        }
    }

    /// The old image IDs some rollout may still return to (kept from garbage collection).
    public func pinnedRollbackImages() async throws -> Set<String> {
        try await writer.read { db in Set(try String.fetchAll(db, sql: "SELECT DISTINCT old_image_id FROM replaced_containers")) }
    }

    /// Forgets the containers `rollout` replaced.
    public func forgetReplacedContainers(rollout: String) async throws {
        try await writer.write { db in try db.execute(sql: "DELETE FROM replaced_containers WHERE rollout = ?", arguments: [rollout]) }
    }
}
