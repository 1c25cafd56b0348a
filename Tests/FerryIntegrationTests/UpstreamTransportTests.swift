import FerryCoordinator
import FerryCore
import FerryMesh
import FerryRegistry
import FerryStore
import FerryTestSupport
import Foundation
import Hummingbird
import Testing

/// TLS, plain HTTP policy, redirects and server errors, against the real registry.
@Suite("Upstream transport", .serialized)
struct UpstreamTransportTests {
    static let name = "registry.ferry.test"

    @Test("TLS: the CA file is needed to trust a private registry; without it, a clear TLS error")
    func tlsWithCAFile() async throws {
        try await withTemporaryDirectory("tls") { dir in
            let certificates = try await TestCertificates.make(in: dir.path, names: [Self.name])
            try await TestRegistry.with(in: dir.sub("registry"), tls: certificates) { registry in
                try await TestImages.make("\(registry.host)/demo/tls:1", in: dir.path, layers: [.init("tls", "1M")])
                let reference = "\(Self.name):\(registry.port)/demo/tls:1"
                let overrides = [Self.name: "127.0.0.1"]

                try await LeaderHarness.with(dataDirectory: dir.sub("untrusted"), { $0.registry.hostOverrides = overrides }) { leader in
                    let status = try #require(try await leader.fetch([reference]).first)
                    #expect(status.state == .failed)
                    #expect(status.error?.code == "UPSTREAM_UNREACHABLE")
                    #expect(status.error?.message.contains("TLS certificate is not trusted") == true, "\(status.error?.message ?? "")")
                    #expect(status.error?.message.contains("--ca-file") == true)
                }
                try await LeaderHarness.with(dataDirectory: dir.sub("trusted"), {
                    $0.registry.hostOverrides = overrides
                    $0.registry.caFile = certificates.caCertificate
                }) { leader in
                    let status = try #require(try await leader.fetch([reference]).first)
                    #expect(status.state == .present, "\(status.error?.message ?? "")")
                }
            }
        }
    }

    @Test("Plain HTTP only for loopback and registries marked insecure")
    func insecureRegistries() async throws {
        try await withTemporaryDirectory("insecure") { dir in
            try await TestRegistry.with(in: dir.sub("registry")) { registry in
                try await TestImages.make("\(registry.host)/demo/plain:1", in: dir.path, layers: [.init("pl", "64K")])
                let host = "\(Self.name):\(registry.port)"
                try await LeaderHarness.with(dataDirectory: dir.sub("strict"), { $0.registry.hostOverrides = [Self.name: "127.0.0.1"] }) { leader in
                    let status = try #require(try await leader.fetch(["\(host)/demo/plain:1"]).first)
                    #expect(status.state == .failed, "a non-loopback name must not be reached over plain HTTP by default")
                    #expect(status.error?.code == "UPSTREAM_UNREACHABLE")
                    #expect(status.error?.message.contains("--insecure-registry \(host)") == true, "\(status.error?.message ?? "")")
                }
                try await LeaderHarness.with(dataDirectory: dir.sub("insecure"), {
                    $0.registry.hostOverrides = [Self.name: "127.0.0.1"]
                    $0.registry.insecureRegistries = [host]
                }) { leader in
                    let status = try #require(try await leader.fetch(["\(host)/demo/plain:1"]).first)
                    #expect(status.state == .present, "\(status.error?.message ?? "")")
                }
            }
        }
    }

    @Test("A blob redirect to another origin is followed without the registry's Authorization")
    func redirectDropsAuthorization() async throws {
        try await withTemporaryDirectory("redirect") { dir in
            let user = "ferry", password = "redirect-Pa55"
            try await TestRegistry.with(in: dir.sub("registry"), auth: .htpasswd(user: user, password: password)) { registry in
                try await TestImages.make(
                    "\(registry.host)/demo/redir:1", in: dir.path, layers: [.init("rd", "1M")], credentials: (user, password))
                let basic = "Basic " + Data("\(user):\(password)".utf8).base64EncodedString()
                // "Storage": another origin that reaches the registry on its own (like a presigned URL).
                var storagePlan = FaultProxy.Plan()
                storagePlan.upstreamAuthorization = basic
                let storage = try await FaultProxy.start(upstream: registry.url, plan: storagePlan)
                var frontPlan = FaultProxy.Plan()
                frontPlan.redirectBlobsTo = storage.url
                let front = try await FaultProxy.start(upstream: registry.url, plan: frontPlan)
                do {
                    let auth = try UpstreamAuthTests.authFile(in: dir, host: front.host, user: user, password: password)
                    try await LeaderHarness.with(dataDirectory: dir.sub("leader"), { $0.registryAuthFile = auth }) { leader in
                        let status = try #require(try await leader.fetch(["\(front.host)/demo/redir:1"]).first)
                        #expect(status.state == .present, "\(status.error?.message ?? "")")
                    }
                    let redirected = front.requests.filter { $0.status == 307 }
                    let fetched = storage.requests.filter { $0.path.contains("/blobs/") }
                    #expect(redirected.count == 2)
                    #expect(redirected.allSatisfy { $0.authorized })
                    #expect(fetched.count == 2)
                    #expect(fetched.allSatisfy { !$0.authorized }, "credentials leaked to another origin")
                    await front.stop()
                    await storage.stop()
                } catch {
                    await front.stop()
                    await storage.stop()
                    throw error
                }
            }
        }
    }

    @Test("5xx answers are retried with backoff")
    func serverErrorsAreRetried() async throws {
        var plan = FaultProxy.Plan()
        plan.serverErrors = 3
        try await UpstreamFaultTests.withFaultyUpstream("fault-503", plan: plan) { dir, _, proxy, reference in
            try await LeaderHarness.with(dataDirectory: dir.sub("leader")) { leader in
                let status = try #require(try await leader.fetch([reference]).first)
                #expect(status.state == .present, "\(status.error?.message ?? "")")
            }
            #expect(proxy.requests.filter { $0.status == 503 }.count == 3)
        }
    }

    @Test("A host that does not speak the registry API is named as such")
    func notARegistry() async throws {
        try await withTemporaryDirectory("not-registry") { dir in
            let router = Router()
            router.get("/**") { _, _ -> Response in Response(status: .notFound) }
            let server = try await BackgroundServer.start(router)
            defer { Task { await server.stop() } }
            try await LeaderHarness.with(dataDirectory: dir.sub("leader")) { leader in
                let status = try #require(try await leader.fetch(["127.0.0.1:\(server.port)/demo/app:1"]).first)
                #expect(status.state == .failed)
                #expect(status.error?.message.contains("does not speak the Registry API v2") == true, "\(status.error?.message ?? "")")
            }
        }
    }
}
