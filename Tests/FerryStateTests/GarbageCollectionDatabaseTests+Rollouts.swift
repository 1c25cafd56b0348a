import FerryCore
import FerryState
import Testing

extension GarbageCollectionDatabaseTests {
    /// `ferry gc` never collects an image a rollout may return to: while a rollout of a
    /// repository can still be rolled back (any phase but succeeded, aborted, rolled back), every
    /// version of that repository is pinned; once it is over, retention applies again.
    /// (Phases as stored: `RolloutState.Phase`'s raw values.)
    @Test(arguments: ["distributing", "switching", "waiting", "paused", "rollingBack", "failed"])
    func aRolloutThatCanBeRolledBackPinsItsRepository(_ phase: String) async throws {
        let database = try FerryDatabase.inMemory()
        let store = MemoryStore()
        let images = try await Self.fetchVersions(3, into: database, store: store)
        let state = #"{"registry":"registry.example.com","repository":"team/app"}"#
        try await database.saveRollout(id: "r1", image: images[2].reference, phase: phase, stateJSON: state)

        let pinned = try await database.collectGarbage(GarbageCollection.Policy(keep: 1), store: store)
        #expect(pinned.images.isEmpty, "every version of the rollout's repository is kept while it can be rolled back")
        #expect(Set(store.files.keys).isSuperset(of: Self.version(1).blobs.map(\.digest)))

        for over in ["succeeded", "aborted", "rolledBack"] {
            try await database.saveRollout(id: "r1", image: images[2].reference, phase: over, stateJSON: state)
            let dry = try await database.collectGarbage(GarbageCollection.Policy(keep: 1), store: store, dryRun: true)
            #expect(dry.images.map(\.id) == [images[0].id!, images[1].id!], "\(over): retention applies again")
        }
        // A rollout of another repository pins nothing here.
        try await database.saveRollout(
            id: "r2", image: "registry.example.com/team/other:1", phase: phase,
            stateJSON: #"{"registry":"registry.example.com","repository":"team/other"}"#)
        let outcome = try await database.collectGarbage(GarbageCollection.Policy(keep: 1), store: store)
        #expect(outcome.images.map(\.id) == [images[0].id!, images[1].id!])
    }
}
