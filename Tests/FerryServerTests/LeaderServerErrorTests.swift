import FerryCore
import FerryMesh
import FerryServer
import Foundation
import GRDB
import Hummingbird
import HummingbirdTesting
import Testing

/// A leader that cannot write now (its disk full: 507) is waited out by its followers, which
/// retry transient errors, while the CLI shows the leader's own code and words.
@Suite("Leader server errors, as clients see them")
struct LeaderServerErrorTests {
    @Test func aFollowerTakesAFullLeaderAsTransientAndTheCLIGetsTheCode() async throws {
        let router = Router(context: FerryRequestContext.self)
        router.add(middleware: ErrorMiddleware())
        router.post(RouterPath(MeshAPI.heartbeat)) { _, _ -> String in throw DatabaseError(resultCode: .SQLITE_FULL, message: "database or disk is full") }
        router.post(RouterPath(AdminAPI.fetch)) { _, _ -> String in throw DatabaseError(resultCode: .SQLITE_FULL, message: "database or disk is full") }
        try await Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0))).test(.live) { client in
            let base = "http://127.0.0.1:\(try #require(client.port))"
            let follower = MeshClient(baseURL: base, credential: "node-credential", caFile: nil)
            let seen = await #expect(throws: FerryError.self) { _ = try await follower.heartbeat(Heartbeat(dockerVersion: nil, dockerError: nil)) }
            #expect(seen?.isTransient == true, "\(String(describing: seen))")
            #expect(seen?.message.contains("free some space") == true)
            let admin = AdminClient(baseURL: base, token: "admin-token")
            let shown = await #expect(throws: FerryError.self) { _ = try await admin.fetch(FetchRequest(images: ["registry.test/app:1"])) }
            #expect(shown?.code == .insufficientSpace)
        }
    }
}
