import FerryConcurrency
import GRDB

/// Notifies ``FerryDatabase/changes`` after each committed transaction that changed what a node's
/// work, a load slot or an install's outcome depends on.
///
/// The notification is part of the commit, so no transition can forget it: an image resolved
/// (`images.manifest_digest`, `images.state`), a target created, moved or removed
/// (`install_targets.state`), an install created or closed, a node joined, joined again or removed, a
/// rollout's record stored (its nodes' switch work may have changed). Progress
/// (bytes done) and heartbeats are not changes: updates that leave these columns alone (written
/// with `updateChanges`) wake nobody.
final class WorkChangeObserver: TransactionObserver, @unchecked Sendable {
    // Only touched on the writer's serial queue (GRDB's guarantee for transaction observers).
    private var changed = false
    private let signal: ChangeSignal

    /// Per table watched, the updated columns that count as a change (inserts and deletes always do).
    static let watched: [String: Set<String>] = [
        ImageRecord.databaseTableName: ["state", "manifest_digest"],
        InstallTargetRecord.databaseTableName: ["state"],
        InstallRecord.databaseTableName: ["state"],
        NodeRecord.databaseTableName: ["credential_hash", "removed_at"],
        // A rollout's record, rewritten after each of its events: nodes' switch work.
        "rollouts": ["state_json"],
    ]

    init(signal: ChangeSignal) { self.signal = signal }

    /// Whether a statement of `kind` can change someone's work.
    static func matters(_ kind: DatabaseEventKind) -> Bool {
        guard let columns = watched[kind.tableName] else { return false }
        switch kind {
        case .insert, .delete:
            return true
        case .update(_, let updated):
            return !columns.isDisjoint(with: updated)
        }
    }

    func observes(eventsOfKind eventKind: DatabaseEventKind) -> Bool { Self.matters(eventKind) }

    func databaseDidChange(with event: DatabaseEvent) { changed = true }

    func databaseDidCommit(_ db: Database) {
        guard changed else { return }
        changed = false
        signal.notify()
    }

    func databaseDidRollback(_ db: Database) { changed = false }
}
