import FerryCore
import FerryMesh
import FerryTestSupport
import Foundation
import Testing

/// Certificate lifetime (docs/mesh.md, *Certificate renewal*): node certificates expire and are
/// renewed in place, without a restart, and the mesh keeps working across renewals.
extension SecurityTests {
    @Test("With 40-second node certificates, followers renew theirs in place: after the first ones expired, an install still succeeds and peers still serve each other")
    func certificateRenewal() async throws {
        try await TestCluster.with(
            "secrenew", nodes: ["a", "b"], leaderArguments: ["--node-cert-validity", "40s", "--upstream-rate", "16MiB/s"]
        ) { cluster in
            func expiries() async throws -> [String: Date] {
                Dictionary(uniqueKeysWithValues: try await cluster.admin.nodes().nodes.compactMap { node in node.certificateExpiresAt.map { (node.name, $0) } })
            }
            try await waitUntil("both nodes' certificates to be recorded") { try await expiries().count == 2 }
            let first = try await expiries()
            let listed = try await cluster.ferry(["nodes"])
            #expect(listed.stdout.contains("CERT EXPIRES"), "\(listed.stdout)")
            #expect(listed.stdout.split(separator: "\n").contains { $0.hasPrefix("a ") && $0.contains(/in \d+s/) }, "\(listed.stdout)")
            // Set by the leader's housekeeping, every 2 s.
            try await waitUntil("node a's certificate expiry on the leader's /metrics") {
                (try await cluster.leaderMetrics()["ferry_node_certificate_expiry_seconds{node=\"a\"}"] ?? 0) > 0
            }
            let metrics = try await cluster.leaderMetrics()
            #expect((metrics["ferry_ca_certificate_expiry_seconds"] ?? 0) > 9 * 365 * 86400)

            // Each renews after two thirds of its life; wait until the first certificates expired.
            try await waitUntil("both nodes to renew", timeout: .seconds(90)) {
                let now = try await expiries()
                return now.allSatisfy { name, date in date > first[name]!.addingTimeInterval(10) }
            }
            let latest = first.values.max()!
            try await waitUntil("the first certificates to expire", timeout: .seconds(90)) { Date() > latest.addingTimeInterval(1) }
            #expect((try await cluster.metrics(of: "a")["ferry_certificate_expiry_seconds"] ?? 0) > 0)

            let reference = try await cluster.push("demo/renew:1", layers: [.init("rnw", "16M")])
            let installed = try await cluster.ferry(["install", reference, "--nodes", "a,b"])
            #expect(installed.status == 0, "\(installed.stderr)")
            var fromPeers = 0.0
            for node in ["a", "b"] {
                #expect(try await cluster.engine(node).run(reference).stdout.contains("ok"))
                fromPeers += try await cluster.metrics(of: node)["ferry_received_bytes_total{source=\"peer\"}"] ?? 0
            }
            #expect(fromPeers > 0, "no node received bytes from a peer")
        }
    }
}
