import FerryCore
import FerryServer
import FerryTestSupport
import Foundation
import Testing

extension RouteAuthTests {
    /// What the vendor proxy's router must list (`ferry routes`, key `proxy`).
    static let proxyExpected: Set<String> = {
        var routes: Set<String> = ["GET /healthz", "GET /readyz", "GET /metrics", "GET /token", "POST /token"]
        for path in ["/v2", "/v2/**"] {
            for method in ["GET", "HEAD", "PUT", "POST", "PATCH", "DELETE"] { routes.insert("\(method) \(path)") }
        }
        for route in ["GET /admin/v1/proxy/apps", "POST /admin/v1/proxy/apps", "GET /admin/v1/proxy/licences", "POST /admin/v1/proxy/licences",
                      "GET /admin/v1/proxy/licences/:id", "POST /admin/v1/proxy/licences/:id/revoke", "GET /admin/v1/proxy/usage"] {
            routes.insert(RouteAuthTests.normalized(route))
        }
        return routes
    }()

    @Test("Every route of the vendor proxy refuses missing, wrong and misplaced credentials; only /healthz and /readyz are open")
    func everyProxyRouteRefusesRequestsWithoutValidCredentials() async throws {
        try await ProxyFixture.with("routes-proxy", images: [ProxyFixture.app: [.init("rt", "1M")]]) { proxy in
            let result = try await ferry(["routes"])
            #expect(result.succeeded, "\(result.stderr)")
            let lists = try JSONDecoder().decode([String: [FerryRoutes.Route]].self, from: Data(result.stdout.utf8))
            let listed = try #require(lists["proxy"])
            let names = Set(listed.map(\.description))
            #expect(names == Self.proxyExpected, "unknown: \(names.subtracting(Self.proxyExpected).sorted()); missing: \(Self.proxyExpected.subtracting(names).sorted())")

            let revoked = try await proxy.createLicence(customer: "gone")
            try await proxy.revoke(revoked.number)
            let adminToken = try String(contentsOfFile: proxy.dataDirectory + "/admin-token", encoding: .utf8).trimmingWhitespace()
            let wrongLicence = "ferrylic_" + String(repeating: "ab", count: 32)
            let basic = { (password: String) in "Basic " + Data("x:\(password)".utf8).base64EncodedString() }
            // (label, Authorization, whether a 403 is also a right answer: a known licence that is revoked)
            let credentials: [(String, String?, Bool)] = [
                ("no credentials", nil, false), ("a wrong licence", basic(wrongLicence), false), ("a wrong Bearer token", "Bearer \(wrongLicence)", false),
                ("the admin token as a licence", basic(adminToken), false), ("Basic that is not base64", "Basic !!!", false),
                ("a revoked licence", basic(revoked.id), true),
            ]
            let proxyPaths = [
                "/v2/proxy/shop/vendor/team/app/manifests/1.4", "/v2/proxy/shop/vendor/team/app/blobs/\(BadRequestCluster.someDigest)",
                "/v2/proxy/shop/vendor/team/app/tags/list", "/v2/_catalog",
            ]
            var requests = 0
            for route in listed where !["/healthz", "/readyz"].contains(route.path) {
                var paths = BadRequestCluster.paths(for: route.path)
                if route.path == "/v2/**" { paths += proxyPaths }
                let isAdmin = route.path.hasPrefix("/admin/") || route.path == "/metrics"
                for path in paths {
                    for (label, authorization, revokedLicence) in credentials {
                        let response = try await proxy.request(route.method, path, authorization: authorization)
                        requests += 1
                        // A revoked licence is told so (403) on the licence routes; the admin routes take no licence at all.
                        let allowed = revokedLicence && !isAdmin ? [401, 403] : [401]
                        #expect(allowed.contains(response.status), "\(route.method) \(path) with \(label): \(response.statusLine)")
                        if response.status == 401 { #expect(response.headers["www-authenticate"] != nil, "\(route.method) \(path): no challenge") }
                    }
                    // A licence is never an admin credential.
                    if isAdmin {
                        let good = try await proxy.request(route.method, path, authorization: "Bearer \(adminToken)")
                        #expect(good.status != 401, "\(route.method) \(path): the admin token is refused")
                    }
                }
            }
            #expect(requests > 100)
            #expect(try await proxy.request("GET", "/healthz").status == 200)
            let ready = try await proxy.request("GET", "/readyz")
            #expect(ready.status == 200 && ready.text == "ready\n", "\(ready.statusLine) \(ready.text)")
        }
    }

    @Test("A path no route of the proxy serves answers 401 with a challenge without valid credentials (as the leader), 404 only with them")
    func unknownProxyPathsNeedCredentials() async throws {
        try await ProxyFixture.with("routes-proxy-unknown", images: [ProxyFixture.app: [.init("ru", "1M")]]) { proxy in
            let wrong = "Basic " + Data("x:ferrylic_\(String(repeating: "cd", count: 32))".utf8).base64EncodedString()
            for path in Self.unknownPaths {
                for method in ["GET", "POST", "HEAD"] {
                    for authorization in [nil, wrong, "Bearer nope"] {
                        let response = try await proxy.request(method, path, authorization: authorization)
                        #expect(response.status == 401, "\(method) \(path) with \(authorization ?? "nothing"): \(response.statusLine)")
                        #expect(response.headers["www-authenticate"] != nil, "\(method) \(path): no challenge")
                    }
                }
            }
            // Past the credential check, an unknown path is what it is.
            let licence = try await proxy.createLicence()
            let adminToken = try String(contentsOfFile: proxy.dataDirectory + "/admin-token", encoding: .utf8).trimmingWhitespace()
            #expect(try await proxy.request("GET", "/v3/", licence: licence.id).status == 404)
            #expect(try await proxy.request("GET", "/admin/v1/nope", authorization: "Bearer \(adminToken)").status == 404)
            #expect(try await proxy.request("GET", "/healthz").status == 200)
        }
    }

    @Test("A licence asking /token for a scope without an actions part gets a token for nothing, and the proxy lives on")
    func tokenScopeWithoutActionsIsHarmless() async throws {
        try await ProxyFixture.with("routes-proxy-scope", images: [ProxyFixture.app: [.init("rs", "1M")]]) { proxy in
            let licence = try await proxy.createLicence()
            for scope in ["repository:proxy/shull", "repository:", "repository::"] {
                let response = try await proxy.request("GET", "/token?service=ferry-proxy&scope=\(scope)", licence: licence.id)
                #expect(response.status == 200, "\(scope): \(response.statusLine)")
            }
            #expect(try await proxy.request("GET", "/healthz").status == 200)
            #expect(try await proxy.request("GET", "\(ProxyTests.shopPath)/manifests/1.4", licence: licence.id).status == 200)
        }
    }
}
