import FerryCoordinator
import FerryCore
import FerryMesh
import FerryRegistry
import FerryStore
import FerryTestSupport
import Foundation
import Testing

@Suite("Upstream authentication against a real registry", .serialized)
struct UpstreamAuthTests {
    static let user = "ferry"
    static let password = "s3cret-Pa55word"

    /// Writes a Docker config.json with the given credentials for `host`.
    static func authFile(in dir: TemporaryDirectory, host: String, user: String, password: String, style: String = "auth") throws -> String {
        let entry: String
        if style == "auth" {
            entry = #"{"auth":"\#(Data("\(user):\(password)".utf8).base64EncodedString())"}"#
        } else {
            entry = #"{"username":"\#(user)","password":"\#(password)"}"#
        }
        let path = dir.sub("auth-\(UUID().uuidString.prefix(6)).json")
        try #"{"auths":{"\#(host)":\#(entry)}}"#.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    static func leak(_ status: ImageStatus) -> Bool {
        (status.error?.message ?? "").contains(password) || (status.error?.message ?? "").contains("Pa55")
    }

    @Test("htpasswd (bcrypt) Basic auth: right credentials fetch, wrong or missing ones fail clearly")
    func basicAuth() async throws {
        try await withTemporaryDirectory("auth-basic") { dir in
            try await TestRegistry.with(in: dir.sub("registry"), auth: .htpasswd(user: Self.user, password: Self.password)) { registry in
                try await TestImages.make(
                    "\(registry.host)/private/app:1", in: dir.path, layers: [.init("p", "1M")], credentials: (Self.user, Self.password))
                let reference = "\(registry.host)/private/app:1"

                let good = try Self.authFile(in: dir, host: registry.host, user: Self.user, password: Self.password, style: "username")
                try await LeaderHarness.with(dataDirectory: dir.sub("good"), { $0.registryAuthFile = good }) { leader in
                    let status = try #require(try await leader.fetch([reference]).first)
                    #expect(status.state == .present, "\(status.error?.message ?? "")")
                }

                let bad = try Self.authFile(in: dir, host: registry.host, user: Self.user, password: "wrong-Pa55")
                try await LeaderHarness.with(dataDirectory: dir.sub("bad"), { $0.registryAuthFile = bad }) { leader in
                    let status = try #require(try await leader.fetch([reference]).first)
                    #expect(status.state == .failed)
                    #expect(status.error?.code == "UNAUTHORIZED")
                    #expect(status.error?.message.contains("refused the credentials") == true)
                    #expect(!Self.leak(status))
                }

                try await LeaderHarness.with(dataDirectory: dir.sub("none")) { leader in
                    let status = try #require(try await leader.fetch([reference]).first)
                    #expect(status.state == .failed)
                    #expect(status.error?.code == "UNAUTHORIZED")
                    #expect(status.error?.message.contains("requires authentication") == true)
                }
            }
        }
    }

    @Test("Token auth: a Bearer token from the realm, cached per scope; wrong credentials fail clearly")
    func tokenAuth() async throws {
        try await withTemporaryDirectory("auth-token") { dir in
            let tokens = try await TokenServer.start(in: dir.path, user: Self.user, password: Self.password)
            defer { Task { await tokens.stop() } }
            try await TestRegistry.with(in: dir.sub("registry"), auth: tokens.registryAuth) { registry in
                let file = try Self.authFile(in: dir, host: registry.host, user: Self.user, password: Self.password)
                // Push through the registry's own token flow (skopeo speaks it too).
                try await TestImages.make(
                    "\(registry.host)/secure/app:1", in: dir.path, layers: [.init("t1", "1M"), .init("t2", "1M")],
                    credentials: (Self.user, Self.password))
                let before = tokens.issuedScopes.count
                try await LeaderHarness.with(dataDirectory: dir.sub("good"), { $0.registryAuthFile = file }) { leader in
                    let status = try #require(try await leader.fetch(["\(registry.host)/secure/app:1"]).first)
                    #expect(status.state == .present, "\(status.error?.message ?? "")")
                }
                // One token for the repository served the HEAD, the manifest GET and all three blob GETs.
                let issued = tokens.issuedScopes.dropFirst(before)
                #expect(issued.filter { $0 == "repository:secure/app:pull" }.count == 1, "\(Array(issued))")

                let bad = try Self.authFile(in: dir, host: registry.host, user: Self.user, password: "wrong-Pa55")
                try await LeaderHarness.with(dataDirectory: dir.sub("bad"), { $0.registryAuthFile = bad }) { leader in
                    let status = try #require(try await leader.fetch(["\(registry.host)/secure/app:1"]).first)
                    #expect(status.state == .failed)
                    #expect(status.error?.code == "UNAUTHORIZED")
                    #expect(status.error?.message.contains("token service") == true)
                    #expect(!Self.leak(status))
                }

                try await LeaderHarness.with(dataDirectory: dir.sub("anonymous")) { leader in
                    let status = try #require(try await leader.fetch(["\(registry.host)/secure/app:1"]).first)
                    #expect(status.state == .failed)
                    #expect(status.error?.code == "UNAUTHORIZED")
                }
            }
        }
    }
}
