import FerryCore
import FerryState
import GRDB
import Testing

/// ``FerryError/init(database:)``: SQLite's refusals in Ferry's words, with what to do.
@Suite("Database errors")
struct DatabaseErrorTests {
    @Test("a full disk is INSUFFICIENT_SPACE saying what to free; a damaged file says how to restore; other errors are not the database's")
    func messages() throws {
        let full = try #require(FerryError(database: DatabaseError(resultCode: .SQLITE_FULL, message: "database or disk is full")))
        #expect(full.code == .insufficientSpace && full.message.contains("free some space"))
        for code in [ResultCode.SQLITE_CORRUPT, .SQLITE_NOTADB] {
            let damaged = try #require(FerryError(database: DatabaseError(resultCode: code, message: "database disk image is malformed")))
            #expect(damaged.message.contains("damaged") && damaged.message.contains("Backup and restore") && damaged.message.contains("join again"))
        }
        #expect(FerryError(database: FerryError(.internal, "not SQLite's")) == nil)
    }
}
