import FerryCore
import FerryDocker
import FerryState
import Testing

@testable import FerryCoordinator

/// A follower's container switch records in SQLite: saved per container name, replaced at each
/// phase, read back after a restart, gone once finished.
@Suite("Switch journal in SQLite")
struct DatabaseSwitchJournalTests {
    @Test("records round-trip, the latest phase wins, finish forgets")
    func roundTrip() async throws {
        let journal = DatabaseSwitchJournal(database: try FerryDatabase.inMemory())
        var web = SwitchRecord(
            rollout: "r1", name: "web", oldID: "old", oldImageID: "sha256:a", oldReference: "app:1.0", oldWasRunning: true, newImage: "app:1.1")
        try await journal.save(web)
        web.newID = "new"
        web.phase = .oldStopped
        try await journal.save(web)
        let worker = SwitchRecord(
            rollout: "r1", name: "worker", oldID: "o2", oldImageID: "sha256:a", oldReference: "app:1.0", oldWasRunning: false, newImage: "app:1.1")
        try await journal.save(worker)
        #expect(Set(try await journal.unfinished()) == [web, worker])
        try await journal.finish(web)
        #expect(try await journal.unfinished() == [worker])
        #expect(web.temporaryName == "web-ferry-new" && web.backupName == "web-ferry-old")
        #expect(SwitchRecord.isSwitchName("web-ferry-old") && !SwitchRecord.isSwitchName("web"))
    }
}
