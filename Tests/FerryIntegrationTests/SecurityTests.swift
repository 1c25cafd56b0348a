import FerryCore
import FerryMesh
import FerryTestSupport
import Foundation
import Testing

/// One compromised node must not harm the cluster (docs/security.md): each test drives a
/// ``MaliciousNode`` against a live cluster and checks the lie harms only the liar.
@Suite("Untrusted nodes", .serialized, .requiresRoot("dockerd"))
struct SecurityTests {
    @Test("The malicious-node helper joins, advertises its own server and serves lies from it")
    func maliciousNodeHelper() async throws {
        try await TestCluster.with("sechelp", nodes: []) { cluster in
            let liar = try await MaliciousNode.join(cluster, name: "mallory")
            let blob = [UInt8]("honest bytes".utf8)
            let digest = FerryCore.Digest.sha256(of: blob)
            let server = try await liar.serve(.wrong, blobs: [digest: blob])
            defer { Task { await server.stop() } }
            try await liar.heartbeat(address: server.url)
            let listed = try await cluster.admin.nodes().nodes.first { $0.name == "mallory" }
            #expect(listed?.address == server.url)
            let answer = try #require(
                try await RawHTTPConnection.exchange(
                    url: server.url, caFile: cluster.leader.caFile,
                    "GET /v2/app/blobs/\(digest) HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"))
            #expect(answer.status == 200)
            #expect(answer.body.count == blob.count && answer.body != blob)
            #expect(server.requests == 1)
        }
    }
}
