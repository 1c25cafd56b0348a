import FerryCore
import FerryFormats
import FerryProxy
import Testing

@Suite("Proxy paths")
struct ProxyPathTests {
    let digest = "sha256:" + String(repeating: "a", count: 64)

    @Test func parsesTheRoutes() throws {
        #expect(try ProxyPath.parse("/v2/").get() == .base)
        #expect(try ProxyPath.parse("/v2").get() == .base)
        #expect(try ProxyPath.parse("/v2/_catalog").get() == .catalog)
        let repository = ProxyRepository(app: "shop", registry: "vendor", repository: "team/app")
        #expect(try ProxyPath.parse("/v2/proxy/shop/vendor/team/app/manifests/1.4").get() == .manifest(repository, reference: .tag("1.4")))
        #expect(
            try ProxyPath.parse("/v2/proxy/shop/vendor/team/app/manifests/\(digest)").get()
                == .manifest(repository, reference: .digest(try Digest(parsing: digest))))
        #expect(try ProxyPath.parse("/v2/proxy/shop/vendor/team/app/blobs/\(digest)").get() == .blob(repository, digest: try Digest(parsing: digest)))
        #expect(try ProxyPath.parse("/v2/proxy/shop/vendor/team/app/tags/list").get() == .tags(repository))
        #expect(repository.description == "proxy/shop/vendor/team/app")
    }

    @Test(arguments: [
        "/v2/proxy/../vendor/app/manifests/1",
        "/v2/proxy/shop/../app/manifests/1",
        "/v2/proxy/shop/vendor/../../etc/manifests/1",
        "/v2/proxy/%2e%2e/vendor/app/manifests/1",
        "/v2/proxy/shop/%2E%2E/app/manifests/1",
        "/v2/proxy/shop/vendor/te%2fam/manifests/1",
        "/v2/proxy/Shop/vendor/app/manifests/1",
        "/v2/proxy/shop/ven.dor/app/manifests/1",
        "/v2/proxy/shop/registry.example:5000/app/manifests/1",
        "/v2/proxy//vendor/app/manifests/1",
        "/v2/proxy/shop/vendor/manifests/1",
        "/v2/proxy/shop/vendor//app/manifests/1",
    ])
    func refusesBadNames(path: String) {
        guard case .failure(let problem) = ProxyPath.parse(path) else {
            Issue.record("accepted \(path)")
            return
        }
        #expect(problem == .invalidName || problem == .notFound)
    }

    @Test func refusesBadReferences() {
        #expect(ProxyPath.parse("/v2/proxy/shop/vendor/app/manifests/sha256:xyz") == .failure(.invalidDigest))
        #expect(ProxyPath.parse("/v2/proxy/shop/vendor/app/blobs/latest") == .failure(.invalidDigest))
        #expect(ProxyPath.parse("/v2/proxy/shop/vendor/app/manifests/-bad") == .failure(.invalidReference))
        #expect(ProxyPath.parse("/v2/other/app/manifests/1") == .failure(.notFound))
        // Empty parts before `proxy` make an invalid name (400), as after it, not an unknown route.
        #expect(ProxyPath.parse("/v2//proxy/shop/vendor/app/manifests/1") == .failure(.invalidName))
        #expect(ProxyPath.parse("/v2/proxy/shop/vendor/app/uploads/") == .failure(.notFound))
        #expect(ProxyPath.parse("/v3/") == .failure(.notFound))
    }
}

@Suite("Image globs")
struct ImageGlobTests {
    @Test func matchesWithinAndAcrossComponents() throws {
        let one = try ImageGlob("vendor/team/*")
        #expect(one.matches("vendor/team/app"))
        #expect(!one.matches("vendor/team/app/debug"))
        #expect(!one.matches("vendor/other/app"))
        let all = try ImageGlob("vendor/**")
        #expect(all.matches("vendor/team/app/debug"))
        #expect(!all.matches("mirror/team/app"))
        #expect(try ImageGlob("**").matches("anything/at/all"))
        #expect(try ImageGlob("vendor/app").matches("vendor/app"))
        #expect(!(try ImageGlob("vendor/app")).matches("vendor/app2"))
        #expect(try ImageGlob("vendor/app-*").matches("vendor/app-db"))
    }

    @Test func refusesOddCharacters() {
        #expect(throws: GlobError.self) { try ImageGlob("vendor/[ab]") }
        #expect(throws: GlobError.self) { try ImageGlob("") }
        #expect(throws: GlobError.self) { try ImageGlob("vendor/?") }
    }
}
