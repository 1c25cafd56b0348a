import FerryCore
import FerryState
import Foundation
import GRDB
import Testing

@Suite("FerryDatabase open")
struct DatabaseLifecycleTests {
    @Test func inMemoryDatabaseStartsEmpty() async throws {
        let database = try FerryDatabase.inMemory()
        #expect(try await database.images().isEmpty)
        #expect(try await database.unfinishedImages().isEmpty)
        #expect(try await database.presentBlobs().isEmpty)
        let foreignKeys = try await database.writer.read { db in try Bool.fetchOne(db, sql: "PRAGMA foreign_keys") }
        #expect(foreignKeys == true)
    }

    /// A file that is not a database, or one in a directory that does not exist: one
    /// configuration error naming the database and the path, and the garbage file left as it was.
    /// The error opening `path` gave; nil, with the issue recorded, when it opened.
    static func openRefusal(_ path: String, sourceLocation: SourceLocation = #_sourceLocation) -> FerryError? {
        do {
            _ = try FerryDatabase.open(path: path)
            Issue.record("\(path) opened", sourceLocation: sourceLocation)
            return nil
        } catch {
            return error
        }
    }

    @Test func unopenableFileIsOneClearError() async throws {
        try await withTemporaryDirectory { directory in
            let garbage = "\(directory)/state.sqlite"
            let bytes = Data(repeating: 0x5A, count: 8192)
            try bytes.write(to: URL(fileURLWithPath: garbage))
            for path in [garbage, "\(directory)/missing/state.sqlite"] {
                if let error = Self.openRefusal(path) {
                    #expect(error.code == .configuration)
                    #expect(error.message.hasPrefix("cannot open the state database '\(path)': "), "\(error.message)")
                }
            }
            #expect(try Data(contentsOf: URL(fileURLWithPath: garbage)) == bytes)
        }
    }

    /// docs/operations.md, *Disk*: an audit overwrote a state.db with random bytes; the leader
    /// said only `file is not a database`.
    @Test("a file that is not a database is refused naming it, with how to restore")
    func damagedDatabaseSaysWhatToDo() async throws {
        try await withTemporaryDirectory { directory in
            let path = "\(directory)/state.db"
            try Data((0..<8192).map { UInt8(truncatingIfNeeded: $0 &* 131 &+ 7) }).write(to: URL(fileURLWithPath: path))
            if let error = Self.openRefusal(path) {
                #expect(error.code == .configuration)
                #expect(error.message.hasPrefix("cannot open the state database '\(path)': the data directory's SQLite database is damaged"), "\(error.message)")
                #expect(error.message.contains("Backup and restore") && error.message.contains("join again"), "\(error.message)")
            }
        }
    }

    /// docs/operations.md, *Upgrades*: a database a newer Ferry migrated is refused (its schema
    /// may mean something this version would misread), before anything is written.
    @Test("a database written by a newer Ferry is refused with one clear error, and left as it was")
    func newerDatabaseIsRefused() async throws {
        try await withTemporaryDirectory { directory in
            let path = "\(directory)/state.db"
            // Only a migration this version does not know: a refusal after migrating would add
            // this version's tables.
            try DatabaseQueue(path: path).write { db in
                try db.execute(sql: "CREATE TABLE grdb_migrations (identifier TEXT NOT NULL PRIMARY KEY)")
                try db.execute(sql: "INSERT INTO grdb_migrations (identifier) VALUES ('v999: from the future')")
            }
            let applied = { try DatabaseQueue(path: path).read { db in try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations ORDER BY identifier") } }
            let before = try applied()
            do {
                _ = try FerryDatabase.open(path: path)
                Issue.record("the newer database opened")
            } catch let error as FerryError {
                #expect(error.code == .configuration)
                #expect(
                    error.message.hasPrefix("the state database was written by a newer Ferry (it holds the migration 'v999: from the future'"),
                    "\(error.message)")
            }
            #expect(try applied() == before)
            let tables = try DatabaseQueue(path: path).read { db in try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table'") }
            #expect(tables == ["grdb_migrations"])
        }
    }

    @Test func fileDatabaseUsesWALAndKeepsStateAcrossReopen() async throws {
        try await withTemporaryDirectory { directory in
            let path = "\(directory)/state.sqlite"
            let id: Int64
            do {
                let database = try FerryDatabase.open(path: path)
                let mode = try await database.writer.read { db in try String.fetchOne(db, sql: "PRAGMA journal_mode") }
                #expect(mode == "wal")
                let record = try await database.requestImage(StateFixtures.reference("alpine:3"), platform: StateFixtures.amd64)
                id = try #require(record.id)
                try await database.recordResolution(imageID: id, StateFixtures.resolution())
            }
            let reopened = try FerryDatabase.open(path: path)
            let image = try #require(try await reopened.image(id: id))
            #expect(image.reference == "docker.io/library/alpine:3")
            #expect(image.state == .fetching)
            #expect(try await reopened.blobs(ofImage: id).map(\.digest) == [StateFixtures.config, StateFixtures.layer1, StateFixtures.layer2].map(\.digest))
            // Asking again after a restart finds the same image.
            #expect(try await reopened.requestImage(StateFixtures.reference("alpine:3"), platform: StateFixtures.amd64).id == id)
        }
    }

    @Test func openingAnUnusablePathIsAConfigurationError() async throws {
        try await withTemporaryDirectory { directory in
            do {
                _ = try FerryDatabase.open(path: "\(directory)/missing-dir/state.sqlite")
                Issue.record("opened a database in a directory that does not exist")
            } catch let error as FerryError {
                #expect(error.code == .configuration)
                #expect(error.message.contains("missing-dir"))
            }
        }
    }
}
