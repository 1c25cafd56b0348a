import FerryCore
import FerryServer
import Foundation
import GRDB
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

/// What a handler does not answer itself still gets a registry-style body with a code.
@Suite("Error middleware")
struct ErrorMiddlewareTests {
    @Test func aFullDatabaseIs507AndAnyOtherErrorGoesOnAsBefore() async throws {
        let router = Router(context: FerryRequestContext.self)
        router.add(middleware: ErrorMiddleware())
        router.get("/full") { _, _ -> String in throw DatabaseError(resultCode: .SQLITE_FULL, message: "database or disk is full") }
        router.get("/bug") { _, _ -> String in throw FixtureError("something unexpected") }
        router.get("/refused") { _, _ -> String in throw FerryError(.denied, "no") }
        try await Application(router: router).test(.router) { client in
            let full = try await client.execute(uri: "/full", method: .get)
            #expect(full.status.code == 507)
            #expect(full.errorCodes == ["INSUFFICIENT_SPACE"])
            #expect(String(buffer: full.body).contains("free some space"))
            let bug = try await client.execute(uri: "/bug", method: .get)
            #expect(bug.status == .internalServerError)
            #expect(!String(buffer: bug.body).contains("something unexpected"), "the details stay in the log")
            #expect(try await client.execute(uri: "/refused", method: .get).errorCodes == ["DENIED"])
            let unknown = try await client.execute(uri: "/nowhere", method: .get)
            #expect(unknown.status == .notFound && unknown.errorCodes == ["NOT_FOUND"])
        }
    }
}
