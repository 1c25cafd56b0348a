import FerryConcurrency
import FerryCore
import Foundation
import GRDB

/// The node's state in SQLite: images, manifests, blobs and their transfer state.
///
/// Every change another part of Ferry relies on happens in one transaction here, so the
/// database never holds half an update. Daemons use a WAL `DatabasePool`; tests use an
/// in-memory queue.
public struct FerryDatabase: Sendable {
    public let writer: any DatabaseWriter
    /// Notified after every committed change to what a node's work depends on (an image resolved,
    /// a target or install created or moved, a node joined or removed): long polls wait on it.
    /// See ``WorkChangeObserver``.
    public let changes: ChangeSignal

    /// Opens (creating and migrating) the database at `path`, in WAL mode. A new database file
    /// is created 0600 first: SQLite gives its `-wal` and `-shm` files the database file's mode.
    public static func open(path: String) throws(FerryError) -> FerryDatabase {
        do {
            return try FerryDatabase(SQLiteFile.openPool(path: path, what: "the state database"))
        } catch let error as FerryError {
            throw error
        } catch let error as DatabaseError {
            throw FerryError(.configuration, "cannot open the state database '\(path)': \(error.message ?? "\(error.resultCode)")")
        } catch {
            throw FerryError(.configuration, "cannot open the state database '\(path)': \(error)")
        }
    }

    /// An empty in-memory database, for tests.
    public static func inMemory() throws -> FerryDatabase {
        var configuration = Configuration()
        configuration.foreignKeysEnabled = true
        return try FerryDatabase(DatabaseQueue(configuration: configuration))
    }

    public init(_ writer: any DatabaseWriter) throws {
        self.writer = writer
        try Self.migrator.migrate(writer)
        let changes = ChangeSignal()
        self.changes = changes
        writer.add(transactionObserver: WorkChangeObserver(signal: changes), extent: .databaseLifetime)
    }
}
