import FerryCore
import GRDB

extension FerryDatabase {
    /// Copies the database at `source` into a new file at `destination` with SQLite's online
    /// backup, in one step: a consistent snapshot taken while a daemon may be writing (WAL
    /// readers do not block it, nor it them). Runs no migrations: the copy has the source's schema.
    public static func backup(databaseAt source: String, to destination: String) throws(FerryError) {
        do {
            var configuration = Configuration()
            configuration.busyMode = .timeout(30)
            let reader = try DatabaseQueue(path: source, configuration: configuration)
            let target = try DatabaseQueue(path: destination)
            try reader.backup(to: target)
            try target.close()
            try reader.close()
        } catch {
            throw FerryError(.configuration, "cannot back up the database '\(source)': \(error)")
        }
    }
}
