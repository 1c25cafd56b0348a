import FerryCoordinator
import FerryCore
import FerryFormats
import FerryMesh
import FerryServer
import FerryTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A real `ferry leader` process and a real `ferry follower` process joined to it over TLS (the
/// default mesh; the follower's Docker socket does not exist: no engine is needed to answer
/// HTTP), both with a short `--idle-timeout`, and a canary file beside their data directories
/// that no request may reach. Raw requests reach both TLS listeners through
/// ``RawHTTPConnection`` (a NIO TLS client trusting the cluster CA).
final class BadRequestCluster: Sendable {
    static let idleTimeout = 6
    static let followerName = "edge"

    let dir: TemporaryDirectory
    let leader: LeaderProcess
    let follower: BackgroundProcess
    let followerURL: String
    let followerCredential: String
    let canary: Canary

    var leaderURL: String { leader.url }
    var adminToken: String { leader.token }
    /// The cluster CA (`DATA_DIR/ca.pem`): the leader's and the follower's certificates chain to it.
    var caFile: String { leader.caFile }
    var joinToken: String { leader.joinToken }
    var followerDirectory: String { dir.sub("follower") }
    var admin: AdminClient { AdminClient(baseURL: leader.url, token: leader.token, caFile: leader.caFile) }

    private init(dir: TemporaryDirectory, leader: LeaderProcess, follower: BackgroundProcess, followerURL: String, followerCredential: String, canary: Canary) {
        self.dir = dir
        self.leader = leader
        self.follower = follower
        self.followerURL = followerURL
        self.followerCredential = followerCredential
        self.canary = canary
    }

    /// Runs `body` with a cluster that is torn down afterwards, whatever happens; then checks
    /// that both processes still run and answer, and that the canary was not touched.
    static func with(_ body: (BadRequestCluster) async throws -> Void) async throws {
        let dir = try TemporaryDirectory("ferry-bad")
        let canary: Canary
        let leader: LeaderProcess
        do {
            guard FileManager.default.isExecutableFile(atPath: RepositoryLayout.ferryBinary) else {
                throw FerryError(.internal, "no ferry binary at \(RepositoryLayout.ferryBinary) (bundle \(Bundle.main.bundlePath)): build it first")
            }
            canary = try await Canary.create(at: dir.sub("canary"))
            leader = try await LeaderProcess.start(dataDirectory: dir.sub("leader"), extraArguments: ["--idle-timeout", "\(idleTimeout)"])
        } catch {
            dir.remove()
            throw error
        }
        var follower: BackgroundProcess?
        do {
            let directory = dir.sub("follower")
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let joinToken = leader.joinToken
            let started = try BackgroundProcess.spawn(
                RepositoryLayout.ferryBinary,
                ["follower", "--data-dir", directory, "--listen", "127.0.0.1:0", "--leader", leader.url, "--name", followerName,
                 "--docker-host", "unix://\(dir.sub("no-such-docker.sock"))",
                 "--idle-timeout", "\(idleTimeout)", "--log-level", "debug"],
                logPath: "\(directory)/follower.log", environment: ["FERRY_JOIN_TOKEN": joinToken])
            follower = started
            let url = try await waitForAddress(of: started, in: directory)
            struct Identity: Decodable { var credential: String }
            let identity = try JSONDecoder().decode(Identity.self, from: Data(contentsOf: URL(fileURLWithPath: "\(directory)/node.json")))
            let cluster = BadRequestCluster(
                dir: dir, leader: leader, follower: started, followerURL: url, followerCredential: identity.credential, canary: canary)
            #expect(leader.url.hasPrefix("https://") && url.hasPrefix("https://"), "the mesh is not TLS: \(leader.url), \(url)")
            try await body(cluster)
            try await cluster.expectAlive()
            #expect(canary.problems() == [], "the canary outside the data directories was touched")
        } catch {
            await follower?.stop()
            await leader.process.stop()
            dir.remove()
            throw error
        }
        await follower?.stop()
        await leader.process.stop()
        dir.remove()
    }

    private static func waitForAddress(of process: BackgroundProcess, in directory: String) async throws -> String {
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            if let text = try? String(contentsOfFile: "\(directory)/address", encoding: .utf8), !text.isEmpty {
                return text.trimmingWhitespace()
            }
            if kill(process.pid, 0) != 0 { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw FerryError(.internal, "the follower did not start: \(process.log.suffix(2000))")
    }

    /// Sends `request` to `url` over TLS (trusting the cluster CA) and reads one response.
    func exchange(
        _ url: String, _ request: [UInt8], head: Bool = false, clientCertificate: (certificate: String, key: String)? = nil,
        timeout: Duration = .seconds(30)
    ) async throws -> RawHTTPResponse? {
        try await RawHTTPConnection.exchange(url: url, caFile: caFile, clientCertificate: clientCertificate, request, head: head, timeout: timeout)
    }

    func exchange(
        _ url: String, _ request: String, head: Bool = false, clientCertificate: (certificate: String, key: String)? = nil,
        timeout: Duration = .seconds(30)
    ) async throws -> RawHTTPResponse? {
        try await exchange(url, Array(request.utf8), head: head, clientCertificate: clientCertificate, timeout: timeout)
    }

    /// A TLS connection to `url` for requests sent piece by piece.
    func connect(_ url: String) async throws -> RawHTTPConnection {
        try await RawHTTPConnection.connect(url: url, caFile: caFile)
    }

    /// Both processes still run and answer `/healthz` and an authenticated `/v2/`.
    func expectAlive(sourceLocation: SourceLocation = #_sourceLocation) async throws {
        for (name, process) in [("leader", leader.process), ("follower", follower)] {
            var status: Int32 = 0
            #expect(waitpid(process.pid, &status, WNOHANG) == 0, "the \(name) process exited: \(process.log.suffix(3000))", sourceLocation: sourceLocation)
        }
        for (_, url, token) in nodes {
            let health = try await exchange(url, RawHTTP.request("GET", "/healthz"), timeout: .seconds(20))
            #expect(health?.status == 200 && health?.text == "ok\n", "\(url)/healthz: \(health?.statusLine ?? "no answer")", sourceLocation: sourceLocation)
            let base = try await exchange(url, RawHTTP.request("GET", "/v2/", fields: [RawHTTP.bearer(token)]), timeout: .seconds(20))
            #expect(base?.status == 200, "\(url)/v2/: \(base?.statusLine ?? "no answer")", sourceLocation: sourceLocation)
        }
    }

    /// Both nodes, each with the credential that opens everything it serves.
    var nodes: [(name: String, url: String, token: String)] {
        [("leader", leaderURL, adminToken), ("follower", followerURL, followerCredential)]
    }

    /// A peer token for `digest`, signed with the leader's key as the tracker signs them, for the
    /// follower (as its audience), issued to `node` (default: the follower itself, whose
    /// certificate ``followerCertificate`` presents).
    func peerToken(for digest: Digest, node: String = BadRequestCluster.followerName) throws -> String {
        let key = try DataDirectory(leader.dataDirectory).peerSigningKey()
        let claims = PeerToken.Claims(node: node, digest: digest, exp: Int64(Date().timeIntervalSince1970) + 600, audience: Self.followerName)
        return try PeerToken.sign(claims, with: key)
    }

    /// The follower's own TLS certificate and key files, to present as a client certificate
    /// with a peer token issued to it.
    var followerCertificate: (certificate: String, key: String) { ("\(followerDirectory)/tls.pem", "\(followerDirectory)/tls-key.pem") }

    // MARK: Routes

    /// Every route a node of `role` serves, as `ferry routes` lists them from the router the
    /// daemon of that role builds; throws unless the command succeeds and lists that role.
    func routes(of role: FerryRole) async throws -> [(method: String, path: String)] {
        let result = try await ferry(["routes"])
        guard result.succeeded else { throw FerryError(.internal, "ferry routes exited \(result.status): \(result.stderr.suffix(2000))") }
        let lists = try JSONDecoder().decode([String: [FerryRoutes.Route]].self, from: Data(result.stdout.utf8))
        guard let routes = lists[role.rawValue] else { throw FerryError(.internal, "ferry routes lists no \(role) routes: \(result.stdout.prefix(2000))") }
        return routes.map { ($0.method, $0.path) }
    }

    static let someDigest = "sha256:" + String(repeating: "ab", count: 32)

    /// Request paths that reach a route pattern: captures become `1`, and `/v2/**` becomes each
    /// shape of the registry API.
    static func paths(for pattern: String) -> [String] {
        if pattern.hasSuffix("/**") {
            let prefix = String(pattern.dropLast(3))
            return ["/", "/lib/app/manifests/latest", "/lib/app/manifests/\(someDigest)", "/lib/app/blobs/\(someDigest)", "/lib/app/tags/list"]
                .map { prefix + $0 }
        }
        let components = pattern.split(separator: "/").map { component in
            component.hasPrefix("{") || component.hasPrefix(":") || component == "*" ? "1" : String(component)
        }
        return ["/" + components.joined(separator: "/")]
    }
}
