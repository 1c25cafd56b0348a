import FerryDocker
import FerryState
import Foundation

/// A follower's ``SwitchJournal`` in its SQLite (`container_switches`), so a follower killed
/// mid-switch finishes or undoes it when it starts again.
struct DatabaseSwitchJournal: SwitchJournal {
    let database: FerryDatabase

    func save(_ record: SwitchRecord) async throws {
        let json = String(decoding: try JSONEncoder().encode(record), as: UTF8.self)
        try await database.saveContainerSwitch(name: record.name, rollout: record.rollout, recordJSON: json)
    }

    func finish(_ record: SwitchRecord) async throws {
        try await database.removeContainerSwitch(name: record.name)
    }

    func unfinished() async throws -> [SwitchRecord] {
        try await database.containerSwitches().map { try JSONDecoder().decode(SwitchRecord.self, from: Data($0.utf8)) }
    }

    func replaced(_ entry: ReplacedContainer) async throws {
        let json = String(decoding: try JSONEncoder().encode(entry), as: UTF8.self)
        try await database.saveReplacedContainer(rollout: entry.rollout, name: entry.name, oldImageID: entry.oldImageID, entryJSON: json)
    }

    func replacedContainers(rollout: String) async throws -> [ReplacedContainer] {
        try await database.replacedContainers(rollout: rollout).map { try JSONDecoder().decode(ReplacedContainer.self, from: Data($0.utf8)) }
    }

    func forgetReplaced(rollout: String) async throws {
        try await database.forgetReplacedContainers(rollout: rollout)
    }
}
