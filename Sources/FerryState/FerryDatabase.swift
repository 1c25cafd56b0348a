import FerryConcurrency
import FerryCore
import Foundation
import GRDB

/// The node's state in SQLite: images, manifests, blobs and their transfer state.
///
/// Every change another part of Ferry relies on happens in one transaction here, so the
/// database never holds half an update. Daemons use a WAL `DatabasePool`; tests use an
/// in-memory queue.
public struct FerryDatabase: SQLiteDatabase, Sendable {
    public let writer: any DatabaseWriter
    /// Notified after every committed change to what a node's work depends on (an image resolved,
    /// a target or install created or moved, a node joined or removed): long polls wait on it.
    /// See ``WorkChangeObserver``.
    public let changes: ChangeSignal

    public static let displayName = "the state database"

    public init(_ writer: any DatabaseWriter) throws {
        self.writer = writer
        try SQLiteFile.migrate(Self.migrator, writer, what: Self.displayName)
        let changes = ChangeSignal()
        self.changes = changes
        writer.add(transactionObserver: WorkChangeObserver(signal: changes), extent: .databaseLifetime)
    }
}
