import FerryCore
import GRDB

#if canImport(Glibc)
import Glibc
#endif

/// Opening a daemon's SQLite file, the same way for every database Ferry keeps (the node's
/// state, the proxy's): created 0600 first (SQLite gives its `-wal` and `-shm` files the
/// database file's mode), a WAL `DatabasePool`, foreign keys on, 10 s busy timeout.
public enum SQLiteFile {
    /// Opens the database at `path`; `what` names it in the error (`the state database`).
    public static func openPool(path: String, what: String) throws(FerryError) -> DatabasePool {
        let fd = Glibc.open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0o600)
        if fd >= 0 { Glibc.close(fd) }
        var configuration = Configuration()
        configuration.busyMode = .timeout(10)
        configuration.foreignKeysEnabled = true
        do {
            return try DatabasePool(path: path, configuration: configuration)
        } catch let error as DatabaseError {
            throw FerryError(.configuration, "cannot open \(what) '\(path)': \(error.message ?? "\(error.resultCode)")")
        } catch {
            throw FerryError(.configuration, "cannot open \(what) '\(path)': \(error)")
        }
    }
}
