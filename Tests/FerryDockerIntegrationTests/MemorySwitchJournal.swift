import FerryCore
import FerryDocker
import Synchronization

/// A ``SwitchJournal`` in memory; `crashAfter` makes the save of that phase throw, standing in
/// for a process killed right after writing it.
final class MemorySwitchJournal: SwitchJournal {
    struct Crash: Error {}
    private let records = Mutex<[String: SwitchRecord]>([:])
    private let history = Mutex<[ReplacedContainer]>([])
    private let crash: Mutex<SwitchRecord.Phase?>

    init(crashAfter phase: SwitchRecord.Phase? = nil) {
        crash = Mutex(phase)
    }

    func save(_ record: SwitchRecord) async throws {
        records.withLock { $0[record.name] = record }
        let crashing = crash.withLock { phase in
            guard phase == record.phase else { return false }
            phase = nil
            return true
        }
        if crashing { throw Crash() }
    }

    func finish(_ record: SwitchRecord) async throws {
        _ = records.withLock { $0.removeValue(forKey: record.name) }
    }

    func unfinished() async throws -> [SwitchRecord] {
        records.withLock { Array($0.values).sorted { $0.name < $1.name } }
    }

    func replaced(_ entry: ReplacedContainer) async throws {
        history.withLock { entries in
            entries.removeAll { $0.rollout == entry.rollout && $0.name == entry.name }
            entries.append(entry)
        }
    }

    func replacedContainers(rollout: String) async throws -> [ReplacedContainer] {
        history.withLock { $0.filter { $0.rollout == rollout } }
    }

    func forgetReplaced(rollout: String) async throws {
        history.withLock { $0.removeAll { $0.rollout == rollout } }
    }
}
