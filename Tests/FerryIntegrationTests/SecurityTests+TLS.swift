import FerryCoordinator
import FerryCore
import FerryMesh
import FerryTestSupport
import Foundation
import Logging
import Testing

/// Addresses, the leader's certificate and peer tokens (docs/mesh.md, TLS): a node cannot send
/// others to arbitrary URLs, pass for the leader, or use another node's peer token.
extension SecurityTests {
    @Test("Node addresses are https://host:port only: others are refused at join and in every heartbeat, and no follower connects to them")
    func addressInjection() async throws {
        try await TestCluster.with("secaddr", nodes: ["a"]) { cluster in
            // A plain-HTTP service on the followers' loopback that nobody should ever reach.
            let canary = try await RecordingServer.start(tls: nil)
            defer { Task { await canary.stop() } }
            let port = try #require(URL(string: canary.url)?.port)
            let injected = "http://127.0.0.1:\(port)/x?y="
            let bad = [
                injected, "http://127.0.0.1:\(port)", "http+unix://%2Ftmp%2Fferry-canary.sock/x", "https://127.0.0.1:\(port)/v2",
                "https://user:pw@127.0.0.1:\(port)", "https://127.0.0.1:\(port)?y=", "https://\(NodeAddress.leaderName):\(port)",
            ]
            for (index, address) in bad.enumerated() {
                do {
                    _ = try await MaliciousNode.join(cluster, name: "inject\(index)", address: address)
                    Issue.record("the leader let a node join with the address \(address)")
                } catch let error as FerryError {
                    #expect(error.code == .invalidArgument, "join with \(address): \(error)")
                }
            }
            let liar = try await MaliciousNode.join(cluster, name: "mallory")
            // The issue's own heartbeat last: on a leader that took it, it is the address kept.
            for address in bad.reversed() {
                let body = String(decoding: try JSONEncoder().encode(Heartbeat(dockerVersion: "27.0.0", dockerError: nil, address: address)), as: UTF8.self)
                let answer = try await liar.raw("POST", MeshAPI.heartbeat, body: body)
                #expect(answer?.status == 400 && answer?.errorCodes == ["INVALID_ARGUMENT"], "heartbeat with \(address): \(answer?.statusLine ?? "no answer")")
            }
            let nodes = try await cluster.admin.nodes().nodes
            #expect(!nodes.contains { $0.name.hasPrefix("inject") }, "\(nodes.map(\.name))")
            #expect(nodes.first { $0.name == "mallory" }?.address == nil)

            // The liar claims every blob of an image that a then installs: a is never sent to the URL.
            let reference = try await cluster.push("demo/inject:1", layers: [.init("inj", "2M")])
            let fetched = try await cluster.ferry(["fetch", reference])
            #expect(fetched.status == 0, "\(fetched.stderr)")
            let blobs = try #require(try await cluster.admin.image(id: 1).blobs)
            for blob in blobs { try await liar.claimPresent(try Digest(parsing: blob.digest), size: blob.size) }
            let installed = try await cluster.ferry(["install", reference, "--nodes", "a"])
            #expect(installed.status == 0, "\(installed.stderr)")
            #expect(canary.requests.isEmpty, "a follower sent \(canary.requests.map { "\($0.method) \($0.path)" }) to \(injected)")
        }
    }

    @Test("A node's certificate does not pass for the leader's: a join and `ferry nodes` through a proxy presenting one send no secret")
    func nodeCertificateIsNotTheLeaders() async throws {
        try await TestCluster.with("secproxy", nodes: []) { cluster in
            let liar = try await MaliciousNode.join(cluster, name: "mallory", address: "https://127.0.0.1:1")
            let proxy = try await liar.impersonateLeader()
            defer { Task { await proxy.stop() } }

            // A follower joining through it finds the CA the join token names, and sends nothing.
            let follower = try FollowerService(
                configuration: FollowerConfiguration(
                    dataDirectory: cluster.dir.sub("victim"), leaderURL: proxy.url, joinToken: cluster.leader.joinToken, name: "victim",
                    dockerHost: "unix://\(cluster.dir.sub("no-docker.sock"))"),
                logger: Logger(label: "ferry.test.victim", factory: { _ in SwiftLogNoOpLogHandler() }))
            await #expect(throws: FerryError.self) { try await follower.join() }

            // Nor does the admin CLI.
            let listed = try await runProcess(
                RepositoryLayout.ferryBinary, ["nodes"],
                environment: ["FERRY_LEADER": proxy.url, "FERRY_TOKEN": cluster.leader.token, "FERRY_CA": cluster.leader.caFile])
            #expect(listed.status != 0, "ferry nodes through the proxy: \(listed.stdout)")

            #expect(proxy.requests.allSatisfy { $0.authorization == nil }, "the proxy received a credential: \(proxy.requests.map(\.path))")
            #expect(proxy.requests.isEmpty, "the proxy received \(proxy.requests.map { "\($0.method) \($0.path)" })")
            // The real leader works for both.
            #expect(try await cluster.ferry(["nodes"]).status == 0)
            #expect(try await cluster.admin.nodes().nodes.contains { $0.name == "victim" } == false)
        }
    }

    @Test("A leader whose certificate predates the leader's reserved name issues itself a new one at start")
    func leaderCertificateUpgrade() async throws {
        try await TestCluster.with("secupg", nodes: []) { cluster in
            let old = try await MaliciousNode.join(cluster, name: "old-leader-cert")
            await cluster.killLeader()
            // A certificate from the cluster CA without the reserved name, as leaders had before.
            let files = try old.certificateFiles(in: cluster.dir.path)
            let data = cluster.leader.dataDirectory
            for (from, to) in [(files.certificate, "\(data)/tls.pem"), (files.key, "\(data)/tls-key.pem")] {
                try FileManager.default.removeItem(atPath: to)
                try FileManager.default.copyItem(atPath: from, toPath: to)
            }
            try await cluster.restartLeader()
            let certificate = try String(contentsOfFile: "\(data)/tls.pem", encoding: .utf8)
            #expect(try MeshTLS.alternativeNames(ofPEM: certificate).contains(NodeAddress.leaderName))
            #expect(try await cluster.admin.nodes().nodes.contains { $0.name == "old-leader-cert" })
        }
    }

    @Test("A peer token works only for the node it was issued to: with another node's client certificate, or none, the serving peer refuses it")
    func peerTokenBinding() async throws {
        try await TestCluster.with("secpeer", nodes: ["a"]) { cluster in
            let reference = try await cluster.push("demo/bound:1", layers: [.init("bnd", "1M")])
            let installed = try await cluster.ferry(["install", reference, "--nodes", "a"])
            #expect(installed.status == 0, "\(installed.stderr)")
            let blobs = try #require(try await cluster.admin.image(id: 1).blobs)
            let layer = try #require(blobs.max { $0.size < $1.size })
            let digest = try Digest(parsing: layer.digest)
            let mallory = try await MaliciousNode.join(cluster, name: "mallory")
            let trudy = try await MaliciousNode.join(cluster, name: "trudy")
            try await mallory.enlist(in: cluster, reference)
            let sources = try await mallory.sources(for: digest, size: layer.size, repository: "demo/bound").sources
            let source = try #require(sources.first { $0.node == "a" }, "a is not offered: \(sources.map(\.node))")
            let token = try #require(source.token)
            let path = try #require(URL(string: source.url)?.path)
            let request = "GET \(path) HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer \(token)\r\nConnection: close\r\n\r\n"
            func status(_ certificate: (certificate: String, key: String)?) async throws -> Int? {
                try await RawHTTPConnection.exchange(url: source.url, caFile: cluster.leader.caFile, clientCertificate: certificate, request)?.status
            }
            #expect(try await status(try mallory.certificateFiles(in: cluster.dir.path)) == 200, "the node it was issued to")
            #expect(try await status(try trudy.certificateFiles(in: cluster.dir.path)) == 401, "replayed by another node")
            #expect(try await status(nil) == 401, "without a client certificate")
        }
    }
}
