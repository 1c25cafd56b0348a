import FerryCore
import GRDB

extension FerryError {
    /// `error` as a ``FerryError`` when it is SQLite's: a full disk is ``FerryError/Code/insufficientSpace``
    /// (HTTP 507) with what to do, any other database error ``FerryError/Code/internal`` with
    /// SQLite's reason. Nil for an error that is not the database's.
    public init?(database error: any Error) {
        guard let error = error as? DatabaseError else { return nil }
        if let damage = Self.damage(error) {
            self.init(.internal, damage)
            return
        }
        switch error.resultCode {
        case .SQLITE_FULL:
            self.init(
                .insufficientSpace,
                "the disk holding the data directory is full: the database cannot record anything; free some space on it (other files; on a node whose Docker engine shares that disk, `docker image prune`), then retry; `ferry gc` needs a little free space too")
        case .SQLITE_READONLY:
            self.init(.internal, "the database is read-only (\(error.message ?? "SQLITE_READONLY")): check the data directory's file system and permissions")
        default:
            self.init(.internal, "database error: \(error.message ?? "\(error.resultCode)")")
        }
    }

    /// What to do about a damaged database file (SQLite's `CORRUPT`, `NOTADB`); nil for any
    /// other error.
    static func damage(_ error: DatabaseError) -> String? {
        guard [.SQLITE_CORRUPT, .SQLITE_NOTADB].contains(error.resultCode) else { return nil }
        return "the data directory's SQLite database is damaged (\(error.message ?? "\(error.resultCode)")): on a leader or proxy, restore the data directory from a backup (docs/operations.md, Backup and restore); on a follower, `ferry nodes remove` it, empty its data directory and join again"
    }
}
