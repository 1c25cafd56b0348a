import FerryCore
import FerryState
import Foundation
import GRDB
import Synchronization
import Testing

/// Garbage collection deletes files only after its transaction committed: the rows go first, so a
/// crash in between leaves orphan files, never a row that claims a removed blob present.
@Suite("FerryDatabase garbage collection: rows before files")
struct GarbageCollectionOrderTests {
    typealias G = GarbageCollectionDatabaseTests

    /// Whether the database still had a blob's row when its file was unlinked.
    final class RowsAtUnlink: Sendable {
        let rows = Mutex<[Digest: Bool]>([:])
    }

    /// The blobs of version 1 that version 2 does not share: what `keep: 1` removes.
    static var versionOneOnly: Set<Digest> {
        Set(G.version(1).blobs.map(\.digest)).subtracting(G.version(2).blobs.map(\.digest))
    }

    @Test func aBlobsRowIsCommittedGoneBeforeItsFileIsUnlinked() async throws {
        let database = try FerryDatabase.inMemory()
        let store = MemoryStore()
        _ = try await G.fetchVersions(2, into: database, store: store)
        let seen = RowsAtUnlink()
        store.state.withLock {
            $0.onUnlink = { digest in
                // A read from outside the collection's transaction: it sees only what was committed.
                let row = try? database.writer.read { db in
                    try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM blobs WHERE digest = ?)", arguments: [digest])
                }
                seen.rows.withLock { $0[digest] = row }
            }
        }
        let outcome = try await database.collectGarbage(GarbageCollection.Policy(keep: 1), store: store)
        #expect(Set(outcome.blobs.map(\.digest)) == Self.versionOneOnly)
        #expect(seen.rows.withLock { $0 } == Dictionary(uniqueKeysWithValues: Self.versionOneOnly.map { ($0, false) }))
        #expect(store.state.withLock { $0.claimed }.isEmpty)
    }

    @Test func aCrashAfterTheCommitLeavesOrphanFilesThatTheNextCollectionRemoves() async throws {
        let database = try FerryDatabase.inMemory()
        let store = MemoryStore()
        _ = try await G.fetchVersions(2, into: database, store: store)
        // The process dies once the transaction has committed: no file is unlinked.
        store.state.withLock { $0.filesSurvive = true }
        let interrupted = try await database.collectGarbage(GarbageCollection.Policy(keep: 1), store: store)
        #expect(interrupted.blobs.isEmpty)
        #expect(interrupted.images.count == 1)
        #expect(Set(store.files.keys).isSuperset(of: Self.versionOneOnly), "orphan files")
        let rows = try await G.blobDigests(database)
        #expect(rows.isDisjoint(with: Self.versionOneOnly), "no row claims a removed blob")
        #expect(try await database.presentBlobs().allSatisfy { !Self.versionOneOnly.contains($0.digest) }, "start-up recovery refetches nothing")

        // After the restart, the next collection takes the orphans and nothing else.
        store.state.withLock { $0.filesSurvive = false }
        let next = try await database.collectGarbage(GarbageCollection.Policy(keep: 1), store: store)
        #expect(Set(next.blobs.map(\.digest)) == Self.versionOneOnly)
        #expect(next.images.isEmpty)
        #expect(Set(store.files.keys) == Set(G.version(2).blobs.map(\.digest)))
        #expect(try await G.blobDigests(database) == Set(G.version(2).blobs.map(\.digest)))
    }
}
