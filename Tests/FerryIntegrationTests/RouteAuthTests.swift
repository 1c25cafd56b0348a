import FerryCoordinator
import FerryCore
import FerryFormats
import FerryMesh
import FerryServer
import FerryTestSupport
import Foundation
import Testing

/// Every route of every API, on a real leader's and a real follower's TLS port, refuses a
/// request without valid credentials; only `/healthz` answers anyone.
///
/// The routes come from the ferry binary: `ferry routes` lists what the router of each role's
/// daemon serves (``FerryRoutes``), so a route added to any API is probed here without anyone
/// listing it. The lists are also compared with the routes this test knows, so that a new route
/// is looked at (which credential should open it?) before the test passes again.
@Suite("Route authentication", .serialized)
struct RouteAuthTests {
    typealias Route = (method: String, path: String)

    /// The routes both nodes serve, besides their own APIs.
    static let common: Set<String> = {
        var routes: Set<String> = ["GET /healthz", "GET /metrics"]
        for path in ["/v2", "/v2/**"] {
            for method in ["GET", "HEAD", "PUT", "POST", "PATCH", "DELETE"] { routes.insert("\(method) \(path)") }
        }
        return routes
    }()

    /// What the leader's router must list: the common routes, the admin API and the coordination API.
    static let leaderExpected: Set<String> = common.union([
        "POST \(AdminAPI.fetch)", "GET \(AdminAPI.images)", "GET \(AdminAPI.image)", "POST \(AdminAPI.installs)", "GET \(AdminAPI.installs)",
        "GET \(AdminAPI.install)", "GET \(AdminAPI.nodes)", "POST \(AdminAPI.gc)", "DELETE \(AdminAPI.node)",
        "POST \(AdminAPI.tokens)", "GET \(AdminAPI.tokens)", "DELETE \(AdminAPI.token)",
        "POST \(MeshAPI.join)", "POST \(MeshAPI.heartbeat)", "GET \(MeshAPI.work)", "POST \(MeshAPI.report)", "POST \(MeshAPI.load)",
        "POST \(MeshAPI.sources)", "POST \(MeshAPI.sourceBatch)", "POST \(MeshAPI.blobs)", "POST \(MeshAPI.certificate)", "POST \(MeshAPI.switchReport)",
        "POST \(AdminAPI.rollouts)", "GET \(AdminAPI.rollouts)", "GET \(AdminAPI.rollout)", "POST \(AdminAPI.rolloutPause)",
        "POST \(AdminAPI.rolloutResume)", "POST \(AdminAPI.rolloutAbort)", "POST \(AdminAPI.rolloutRollback)",
    ].map(Self.normalized))

    /// What a follower's router must list: the common routes and its local admin route.
    static let followerExpected: Set<String> = common.union(["POST \(AdminAPI.gc)"])

    /// `:id` captures as the router prints them (`{id}`).
    static func normalized(_ route: String) -> String {
        route.split(separator: "/", omittingEmptySubsequences: false)
            .map { $0.hasPrefix(":") ? "{\($0.dropFirst())}" : String($0) }
            .joined(separator: "/")
    }

    /// Paths that no route serves: refused for lack of credentials before anything else (no 404
    /// that tells an anonymous client which routes exist), including paths that would reach an
    /// open one if the server normalised them.
    static let unknownPaths = [
        "/", "/v3/", "/admin", "/admin/v1/", "/admin/v1/nope", "/mesh/v1/nope", "/metrics/x", "/healthz/x", "/HEALTHZ",
        "/healthz/../admin/v1/images", "/healthz/..%2fadmin/v1/images", "/healthz%2f..%2fmetrics", "/admin/v1/images/../../../healthz",
    ]

    /// A refusal: `401 UNAUTHORIZED` with a Basic challenge, or `403 DENIED`; a registry-style
    /// error body (none for HEAD).
    static func expectRefused(
        _ response: RawHTTPResponse?, _ label: String, only status: Int? = nil, method: String, sourceLocation: SourceLocation = #_sourceLocation
    ) {
        guard let response else {
            Issue.record("\(label): no answer", sourceLocation: sourceLocation)
            return
        }
        let allowed = status.map { [$0] } ?? [401, 403]
        #expect(allowed.contains(response.status), "\(label): \(response.statusLine), expected \(allowed)", sourceLocation: sourceLocation)
        if response.status == 401 {
            #expect(response.headers["www-authenticate"]?.hasPrefix("Basic realm=") == true, "\(label): no Basic challenge", sourceLocation: sourceLocation)
        }
        guard method != "HEAD" else { return }
        let expectedCode = response.status == 401 ? "UNAUTHORIZED" : "DENIED"
        #expect(response.errorCodes == [expectedCode], "\(label): not a registry-style \(expectedCode): \(response.text.prefix(200))", sourceLocation: sourceLocation)
        #expect(response.headers["content-type"]?.hasPrefix("application/json") == true, "\(label): \(response.headers["content-type"] ?? "no Content-Type")", sourceLocation: sourceLocation)
    }

    @Test("Every route of the leader and the follower refuses missing, wrong and misplaced credentials; only /healthz is open")
    func everyRouteRefusesRequestsWithoutValidCredentials() async throws {
        try await BadRequestCluster.with { cluster in
            let digest = try Digest(parsing: BadRequestCluster.someDigest)
            let otherDigest = try Digest(parsing: "sha256:" + String(repeating: "cd", count: 32))
            let peerToken = try cluster.peerToken(for: digest)
            let otherPeerToken = try cluster.peerToken(for: otherDigest)
            let key = try DataDirectory(cluster.leader.dataDirectory).peerSigningKey()
            let expiredPeerToken = try PeerToken.sign(
                PeerToken.Claims(node: BadRequestCluster.followerName, digest: digest, exp: Int64(Date().timeIntervalSince1970) - 60, audience: BadRequestCluster.followerName), with: key)
            let joinSecret = try JoinToken(parsing: cluster.joinToken).secret
            let wrong = DataDirectory.randomToken()
            let basic = { (password: String) in ("Authorization", "Basic " + Data("x:\(password)".utf8).base64EncodedString()) }

            // Credentials no route takes, on either node.
            let invalid: [(String, [(String, String)])] = [
                ("no credentials", []),
                ("a wrong Bearer token", [RawHTTP.bearer(wrong)]),
                ("a wrong Basic password", [basic(wrong)]),
                ("the admin token as a Basic user name", [("Authorization", "Basic " + Data("\(cluster.adminToken):".utf8).base64EncodedString())]),
                ("an empty Bearer token", [("Authorization", "Bearer ")]),
                ("a Digest header", [("Authorization", "Digest username=\"x\", response=\"\(wrong)\"")]),
                ("Basic that is not base64", [("Authorization", "Basic !!!not-base64!!!")]),
                ("the admin token without a scheme", [("Authorization", cluster.adminToken)]),
                ("the admin token in another header", [("X-Token", cluster.adminToken)]),
                ("the join token's secret alone", [RawHTTP.bearer(joinSecret)]),
                ("an expired peer token", [RawHTTP.bearer(expiredPeerToken)]),
                ("a peer token with a changed signature", [RawHTTP.bearer(String(peerToken.dropLast(2)) + (peerToken.hasSuffix("AA") ? "BB" : "AA"))]),
            ]

            var seen: [String] = []
            for (node, url) in [("leader", cluster.leaderURL), ("follower", cluster.followerURL)] {
                let listed = try await cluster.routes(of: node == "leader" ? .leader : .follower)
                let expected = node == "leader" ? Self.leaderExpected : Self.followerExpected
                let names = Set(listed.map { "\($0.method) \($0.path)" })
                #expect(
                    names == expected,
                    "\(node): its router lists routes this test does not know: \(names.subtracting(expected).sorted()); missing: \(expected.subtracting(names).sorted())")

                // Every route and every request path that reaches it, and paths that reach none.
                var targets: [(method: String, path: String, pattern: String)] = listed.flatMap { route in
                    BadRequestCluster.paths(for: route.path).map { (route.method, $0, route.path) }
                }
                targets += Self.unknownPaths.flatMap { path in ["GET", "POST"].map { ($0, path, "(none)") } }
                #expect(targets.count > 20, "\(node): only \(targets.count) requests to make")

                // The node's own credential, and the other node's, where they do not belong.
                let misplaced: [(String, [(String, String)], (_ method: String, _ path: String, _ pattern: String) -> Bool)]
                if node == "leader" {
                    misplaced = [
                        // A node credential is no admin token, and joins nothing.
                        ("the follower's node credential", [RawHTTP.bearer(cluster.followerCredential)],
                         { _, _, pattern in pattern.hasPrefix(AdminAPI.prefix) || pattern == MeshAPI.join }),
                        // The join token joins, and opens nothing else.
                        ("the join token", [RawHTTP.bearer(cluster.joinToken)], { _, _, pattern in pattern != MeshAPI.join }),
                        // The leader takes no peer tokens at all.
                        ("a peer token", [RawHTTP.bearer(peerToken)], { _, _, _ in true }),
                    ]
                } else {
                    let blobPath = "/v2/lib/app/blobs/\(digest)"
                    misplaced = [
                        // The follower knows neither the leader's admin token nor its join token.
                        ("the leader's admin token", [RawHTTP.bearer(cluster.adminToken)], { _, _, _ in true }),
                        ("the join token", [RawHTTP.bearer(cluster.joinToken)], { _, _, _ in true }),
                        // A peer token opens GET and HEAD of its one blob, nothing else.
                        ("a peer token", [RawHTTP.bearer(peerToken)], { method, path, _ in !(path == blobPath && ["GET", "HEAD"].contains(method)) }),
                        ("a peer token for another blob", [RawHTTP.bearer(otherPeerToken)], { _, _, _ in true }),
                        ("a peer token as the Basic password", [basic(peerToken)], { method, path, _ in !(path == blobPath && ["GET", "HEAD"].contains(method)) }),
                    ]
                }

                for target in targets {
                    let isHealth = target.path == "/healthz"
                    for (what, fields) in invalid {
                        let response = try await cluster.exchange(url, RawHTTP.request(target.method, target.path, fields: fields), head: target.method == "HEAD")
                        let label = "\(node): \(target.method) \(target.path) with \(what)"
                        seen.append(response?.text ?? "")
                        if isHealth {
                            #expect(response?.status == 200 && response?.text == "ok\n", "\(label): \(response?.statusLine ?? "no answer")")
                        } else {
                            Self.expectRefused(response, label, only: 401, method: target.method)
                        }
                    }
                    // Only real routes: an unknown path is 404 to a principal that got past the credential check.
                    for (what, fields, refused) in misplaced where !isHealth && target.pattern != "(none)" && refused(target.method, target.path, target.pattern) {
                        let response = try await cluster.exchange(url, RawHTTP.request(target.method, target.path, fields: fields), head: target.method == "HEAD")
                        seen.append(response?.text ?? "")
                        Self.expectRefused(response, "\(node): \(target.method) \(target.path) with \(what)", method: target.method)
                    }
                }
            }

            // The same credentials do open what they are for: the refusals above are not a
            // broken credential. The peer token reaches its blob (not held: 404), the node
            // credential the leader's registry API, the join token is checked by the join route.
            // (With the client certificate of the node it was issued to: without, it is refused above.)
            let holder = cluster.followerCertificate
            let blob = try await cluster.exchange(
                cluster.followerURL, RawHTTP.request("GET", "/v2/lib/app/blobs/\(digest)", fields: [RawHTTP.bearer(peerToken)]), clientCertificate: holder)
            #expect(blob?.status == 404 && blob?.errorCodes == ["BLOB_UNKNOWN"], "the peer token on its blob: \(blob?.statusLine ?? "no answer")")
            let viaBasic = try await cluster.exchange(
                cluster.followerURL, RawHTTP.request("HEAD", "/v2/lib/app/blobs/\(digest)", fields: [basic(peerToken)]), head: true, clientCertificate: holder)
            #expect(viaBasic?.status == 404, "the peer token as a Basic password on its blob: \(viaBasic?.statusLine ?? "no answer")")
            let read = try await cluster.exchange(cluster.leaderURL, RawHTTP.request("GET", "/v2/", fields: [RawHTTP.bearer(cluster.followerCredential)]))
            #expect(read?.status == 200, "the node credential on the leader's /v2/: \(read?.statusLine ?? "no answer")")
            let join = try await cluster.exchange(cluster.leaderURL, RawHTTP.request("POST", MeshAPI.join, fields: [RawHTTP.bearer(cluster.joinToken)], body: Array("{".utf8)))
            #expect(join?.status == 400 && join?.errorCodes == ["INVALID_ARGUMENT"], "the join token on the join route: \(join?.statusLine ?? "no answer")")
            for (node, url, token) in cluster.nodes {
                let metrics = try await cluster.exchange(url, RawHTTP.request("GET", "/metrics", fields: [RawHTTP.bearer(token)]))
                #expect(metrics?.status == 200, "\(node): /metrics with its credential: \(metrics?.statusLine ?? "no answer")")
                seen.append(metrics?.text ?? "")
            }

            // No answer and no log line shows a credential, even the ones that were refused.
            seen += [cluster.leader.process.log, cluster.follower.log]
            let secrets = [
                ("admin token", cluster.adminToken), ("join token secret", joinSecret), ("node credential", cluster.followerCredential),
                ("peer token", peerToken), ("refused token", wrong),
            ]
            for (index, text) in seen.enumerated() {
                for (name, secret) in secrets where text.contains(secret) {
                    Issue.record("the \(name) shows in answer or log #\(index): \(text.prefix(300))")
                }
            }
        }
    }
}
