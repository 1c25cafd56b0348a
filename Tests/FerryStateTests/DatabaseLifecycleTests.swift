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
