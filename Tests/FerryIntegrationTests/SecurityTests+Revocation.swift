import FerryCore
import FerryMesh
import FerryTestSupport
import Foundation
import Testing

/// Node removal and certificate revocation (docs/mesh.md, *Revocation*): a removed node's
/// certificate stops working everywhere within a heartbeat.
extension SecurityTests {
    @Test("A removed node is refused on every leader route and, within one heartbeat, by every peer; it comes back only with a join token")
    func removedNodeCertificateIsRevoked() async throws {
        try await TestCluster.with("secrevoke", nodes: ["a", "b"]) { cluster in
            let reference = try await cluster.push("demo/revoke:1", layers: [.init("rvk", "1M")])
            let installed = try await cluster.ferry(["install", reference, "--nodes", "a,b"])
            #expect(installed.status == 0, "\(installed.stderr)")
            let blobs = try #require(try await cluster.admin.image(id: 1).blobs)
            let layer = try #require(blobs.max { $0.size < $1.size })
            let digest = try Digest(parsing: layer.digest)
            let stolen = try await MaliciousNode.join(cluster, name: "stolen")
            try await stolen.enlist(in: cluster, reference)
            let peers = try await stolen.sources(for: digest, size: layer.size, repository: "demo/revoke").sources.filter { $0.kind == .peer }
            #expect(!peers.isEmpty, "no peer offered")
            let certificate = try stolen.certificateFiles(in: cluster.dir.path)
            func statuses() async throws -> [String: Int] {
                var statuses: [String: Int] = [:]
                for source in peers {
                    let path = try #require(URL(string: source.url)?.path)
                    let request = "GET \(path) HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(source.token ?? "")\r\nConnection: close\r\n\r\n"
                    statuses[source.node] =
                        try await RawHTTPConnection.exchange(url: source.url, caFile: cluster.leader.caFile, clientCertificate: certificate, request)?.status ?? 0
                }
                return statuses
            }
            #expect(try await statuses().values.allSatisfy { $0 == 200 }, "the peers serve the node before its removal")

            let removed = try await cluster.ferry(["nodes", "remove", "stolen", "--force"])
            #expect(removed.status == 0, "\(removed.stderr)")
            // The leader: its credential on every route.
            let routes: [(String, String, String)] = [
                ("GET", "/v2/", ""), ("GET", "/v2/demo/revoke/blobs/\(digest)", ""), ("GET", MeshAPI.work + "?wait=0", ""),
                ("POST", MeshAPI.heartbeat, "{}"), ("POST", MeshAPI.sources, "{}"), ("POST", MeshAPI.sourceBatch, #"{"requests":[]}"#), ("POST", MeshAPI.blobs, #"{"events":[]}"#),
                ("POST", MeshAPI.report(target: 1), "{}"), ("POST", MeshAPI.load(target: 1), "{}"), ("POST", MeshAPI.join, "{}"),
            ]
            for (method, path, body) in routes {
                #expect(try await stolen.raw(method, path, body: body)?.status == 401, "\(method) \(path)")
            }
            // Every peer: its certificate, with the peer tokens it still holds, within one heartbeat.
            let start = ContinuousClock.now
            try await waitUntil("every peer to refuse the removed node's certificate", timeout: MeshAPI.heartbeatInterval * 3) {
                try await statuses().values.allSatisfy { $0 == 401 }
            }
            let took = ContinuousClock.now - start
            #expect(took < MeshAPI.heartbeatInterval + .seconds(2), "took \(took)")

            // Back only with a join token: a new certificate, the old one still on the list.
            let again = try await MaliciousNode.join(cluster, name: "stolen")
            let answer = try await again.heartbeat(address: nil)
            let oldSerial = try MeshTLS.serialAndExpiry(ofPEM: try #require(stolen.join.certificate)).serial
            let newSerial = try MeshTLS.serialAndExpiry(ofPEM: try #require(again.join.certificate)).serial
            #expect(answer.revokedCertificates?.contains(oldSerial) == true)
            #expect(answer.revokedCertificates?.contains(newSerial) == false)
        }
    }
}
