import FerryCore
@testable import FerryState
import Foundation
import GRDB
import Testing

/// Migrations that change what existing install rows mean.
struct InstallMigrationTests {
    @Test("v7: targets of an image resolved at the upgrade have had a resolution; those of an image being resolved again wait for it")
    func targetsHaveHadAResolution() async throws {
        // A state.db as the release before v7 left it.
        let queue = try DatabaseQueue()
        try FerryDatabase.migrator.migrate(queue, upTo: "v6: pull policy and fallback warnings")
        let now = Date()
        try await queue.write { db in
            try db.execute(
                sql: "INSERT INTO nodes (name, platform, credential_hash, joined_at, last_seen) VALUES ('a', 'linux/amd64', 'h', ?, ?)",
                arguments: [now, now])
            for (id, state) in [(1, "present"), (2, "pending"), (3, "fetching"), (4, "failed")] {
                try db.execute(
                    sql: """
                        INSERT INTO images (id, reference, platform, registry, repository, state, requested_at, updated_at)
                        VALUES (?, ?, 'linux/amd64', 'r.test', 'app', ?, ?, ?)
                        """,
                    arguments: [id, "r.test/app:\(id)", state, now, now])
            }
            try db.execute(sql: "INSERT INTO installs (id, state, max_parallel, created_at) VALUES (1, 'running', 1, ?)", arguments: [now])
            for image in 1...4 {
                try db.execute(
                    sql: "INSERT INTO install_targets (install_id, node_id, image_id, position, state, updated_at) VALUES (1, 1, ?, ?, 'waiting', ?)",
                    arguments: [image, image, now])
            }
        }
        let database = try FerryDatabase(queue)
        let resolved = Dictionary(uniqueKeysWithValues: try await database.targets(ofInstall: 1).map { ($0.imageId, $0.resolved) })
        #expect(resolved == [1: true, 2: false, 3: true, 4: false])
    }

    @Test("v8: a target loading at the upgrade starts its load slot's lease at the first housekeeping after it")
    func loadingTargetsStartTheirLease() async throws {
        let now = Date()
        let database = try await Self.oneTarget(upTo: "v7: install targets that have had a resolution", state: "loading", now: now)
        let later = now.addingTimeInterval(3600)
        #expect(try await database.lapseLoads(now: later, lease: { _ in .seconds(60) }).isEmpty, "its lease starts now, not at some unknown grant")
        let target = try #require(try await database.targets(ofInstall: 1).first)
        #expect(target.state == .loading && target.loadLapses == 0)
        #expect(abs(try #require(target.loadGrantedAt).timeIntervalSince(later)) < 0.01, "stored to the millisecond")
        #expect(try await database.lapseLoads(now: later.addingTimeInterval(61), lease: { _ in .seconds(60) }).count == 1)
    }

    @Test("v9: a lease running at the upgrade, its node holding no slot, is paused at the first housekeeping after it")
    func runningLeasesPauseAfterTheUpgrade() async throws {
        let now = Date()
        // It held its slot for 50 s, then started over. Another of its images, granted an hour
        // ago, is done: v8 left that grant in place, and v9's leases read finished targets.
        let database = try await Self.oneTarget(
            upTo: "v8: load slot leases", state: "transferring", now: now, grantedAt: now.addingTimeInterval(-50)
        ) { db in
            try db.execute(
                sql: """
                    INSERT INTO images (id, reference, platform, registry, repository, state, size, requested_at, updated_at)
                    VALUES (2, 'r.test/app:2', 'linux/amd64', 'r.test', 'app', 'present', 10, ?, ?)
                    """,
                arguments: [now, now])
            try db.execute(
                sql: """
                    INSERT INTO install_targets (install_id, node_id, image_id, position, state, resolved, load_granted_at, updated_at)
                    VALUES (1, 1, 2, 1, 'done', 1, ?, ?)
                    """,
                arguments: [now.addingTimeInterval(-3600), now])
        }
        #expect(try await database.lapseLoads(now: now, lease: { _ in .seconds(60) }).isEmpty)
        let targets = try await database.targets(ofInstall: 1)
        #expect(targets.first { $0.imageId == 1 }?.loadPausedAt != nil)
        #expect(targets.first { $0.imageId == 2 }?.loadGrantedAt == nil, "the finished target's grant is forgotten")
        // An hour later it takes the slot again with 10 s of its lease left.
        let later = now.addingTimeInterval(3600)
        try await database.writer.write { db in try db.execute(sql: "UPDATE install_targets SET state = 'ready' WHERE image_id = 1") }
        #expect(try await database.loadSlot(targetID: 1, nodeID: 1, now: later) == .granted)
        #expect(try await database.lapseLoads(now: later.addingTimeInterval(9), lease: { _ in .seconds(60) }).isEmpty)
        #expect(try await database.lapseLoads(now: later.addingTimeInterval(11), lease: { _ in .seconds(60) }).count == 1)
    }

    /// A state.db as the release with the migrations up to `migration` left it: one node, one
    /// present image, one running install with one target of that node in `state` (its lease
    /// granted at `grantedAt`, when the schema has the column), and whatever `more` adds.
    static func oneTarget(
        upTo migration: String, state: String, now: Date, grantedAt: Date? = nil, more: @escaping @Sendable (Database) throws -> Void = { _ in }
    ) async throws -> FerryDatabase {
        let queue = try DatabaseQueue()
        try FerryDatabase.migrator.migrate(queue, upTo: migration)
        try await queue.write { db in
            try db.execute(
                sql: "INSERT INTO nodes (name, platform, credential_hash, joined_at, last_seen) VALUES ('a', 'linux/amd64', 'h', ?, ?)",
                arguments: [now, now])
            try db.execute(
                sql: """
                    INSERT INTO images (id, reference, platform, registry, repository, state, size, requested_at, updated_at)
                    VALUES (1, 'r.test/app:1', 'linux/amd64', 'r.test', 'app', 'present', 10, ?, ?)
                    """,
                arguments: [now, now])
            try db.execute(sql: "INSERT INTO installs (id, state, max_parallel, created_at) VALUES (1, 'running', 1, ?)", arguments: [now])
            try db.execute(
                sql: "INSERT INTO install_targets (install_id, node_id, image_id, position, state, resolved, updated_at) VALUES (1, 1, 1, 0, ?, 1, ?)",
                arguments: [state, now])
            if let grantedAt { try db.execute(sql: "UPDATE install_targets SET load_granted_at = ?", arguments: [grantedAt]) }
            try more(db)
        }
        return try FerryDatabase(queue)
    }
}
