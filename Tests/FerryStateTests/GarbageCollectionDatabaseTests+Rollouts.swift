import FerryCore
import FerryState
import Foundation
import Testing

extension GarbageCollectionDatabaseTests {
    @Test("an image a rollout replaced on this node is kept until the rollout forgets it")
    func aRolloutsOldImageIsKept() async throws {
        let database = try FerryDatabase.inMemory()
        let store = MemoryStore()
        let images = try await Self.fetchVersions(3, into: database, store: store)
        // Docker's image ID is the config digest.
        let oldImageID = Self.version(1).blobs[0].digest.description
        try await database.saveReplacedContainer(rollout: "r1", name: "web", oldImageID: oldImageID, entryJSON: "{}")
        #expect(try await database.pinnedRollbackImages() == [oldImageID])

        let outcome = try await database.collectGarbage(GarbageCollection.Policy(keep: 1), store: store)
        #expect(outcome.images.map(\.id) == [images[1].id!])
        #expect(store.files[Self.version(1).blobs[2].digest] != nil)

        try await database.forgetReplacedContainers(rollout: "r1")
        let later = try await database.collectGarbage(GarbageCollection.Policy(keep: 1), store: store)
        #expect(later.images.map(\.id) == [images[0].id!])
    }
}

extension GarbageCollectionDatabaseTests {
    @Test("the leader keeps every image of a rollout's repository while the rollout may return to them")
    func aRolloutsRepositoryIsKeptOnTheLeader() async throws {
        let database = try FerryDatabase.inMemory()
        let store = MemoryStore()
        let images = try await Self.fetchVersions(3, into: database, store: store)
        let record = #"{"registry":"registry.example.com","repository":"team/app","state":{}}"#
        try await database.saveRollout(id: "r000000000001", image: "registry.example.com/team/app:3", phase: "paused", stateJSON: record)
        let kept = try await database.collectGarbage(GarbageCollection.Policy(keep: 1), store: store, dryRun: true)
        #expect(kept.images.isEmpty, "a paused rollout may still roll back to versions 1 and 2")

        try await database.saveRollout(id: "r000000000001", image: "registry.example.com/team/app:3", phase: "succeeded", stateJSON: record)
        let later = try await database.collectGarbage(GarbageCollection.Policy(keep: 1), store: store)
        #expect(later.images.map(\.id) == [images[0].id!, images[1].id!])
    }
}
