import FerryCore
import GRDB

#if canImport(Glibc)
import Glibc
#endif

/// A database Ferry keeps in its own SQLite file (the node's state, the proxy's), opened by
/// ``SQLiteFile``; `init` migrates it.
public protocol SQLiteDatabase {
    /// What it is, for errors: `the state database`.
    static var displayName: String { get }
    /// The database over `writer`, migrated.
    init(_ writer: any DatabaseWriter) throws
}

extension SQLiteDatabase {
    /// Opens (creating 0600 and migrating) the database at `path`, in WAL mode.
    public static func open(path: String) throws(FerryError) -> Self {
        let pool = try SQLiteFile.openPool(path: path, what: displayName)
        do {
            return try Self(pool)
        } catch let error as FerryError {
            throw error
        } catch {
            throw SQLiteFile.openError(error, what: displayName, path: path)
        }
    }

    /// An empty in-memory database, for tests.
    public static func inMemory() throws -> Self {
        try Self(SQLiteFile.inMemory())
    }
}

/// Opening a daemon's SQLite file, the same way for every database Ferry keeps (the node's
/// state, the proxy's): created 0600 first (SQLite gives its `-wal` and `-shm` files the
/// database file's mode), a WAL `DatabasePool`, foreign keys on, 10 s busy timeout.
public enum SQLiteFile {
    /// An empty in-memory database configured as a file's is (foreign keys on), for tests.
    public static func inMemory() throws -> DatabaseQueue {
        var configuration = Configuration()
        configuration.foreignKeysEnabled = true
        return try DatabaseQueue(configuration: configuration)
    }

    /// Applies `migrator`'s migrations not yet applied; refuses a database that holds
    /// migrations this version does not know (written by a newer Ferry: its schema may mean
    /// something this one would misread), before writing anything.
    public static func migrate(_ migrator: DatabaseMigrator, _ writer: any DatabaseWriter, what: String) throws {
        let unknown = try writer.read { db in
            try migrator.hasBeenSuperseded(db) ? try migrator.appliedIdentifiers(db).subtracting(migrator.migrations) : []
        }
        if let newest = unknown.sorted().last {
            throw FerryError(
                .configuration,
                "\(what) was written by a newer Ferry (it holds the migration '\(newest)', which this one does not know): run that version or a later one, or restore a backup made by this one")
        }
        try migrator.migrate(writer)
    }

    /// Opens the database at `path`; `what` names it in the error (`the state database`).
    public static func openPool(path: String, what: String) throws(FerryError) -> DatabasePool {
        let fd = Glibc.open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0o600)
        if fd >= 0 { Glibc.close(fd) }
        var configuration = Configuration()
        configuration.busyMode = .timeout(10)
        configuration.foreignKeysEnabled = true
        do {
            return try DatabasePool(path: path, configuration: configuration)
        } catch {
            throw openError(error, what: what, path: path)
        }
    }

    /// A failed open or migration of `what` at `path`, as one configuration error.
    static func openError(_ error: any Error, what: String, path: String) -> FerryError {
        if let database = error as? DatabaseError, let damage = FerryError.damage(database) {
            // What to do with a damaged file, not only SQLite's word for it.
            return FerryError(.configuration, "cannot open \(what) '\(path)': \(damage)")
        }
        let reason = (error as? DatabaseError).map { $0.message ?? "\($0.resultCode)" } ?? "\(error)"
        return FerryError(.configuration, "cannot open \(what) '\(path)': \(reason)")
    }
}
