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

    /// docs/operations.md, *Certificates*: a leader restored from a backup older than a node's
    /// certificate has no record of it; before, it stayed good (peers accepted it) until it
    /// expired, although the node had renewed and no longer used it.
    @Test("A leader restored from a backup older than a node's certificate revokes it when the node renews: peers then refuse it")
    func restoredLeaderRevokesTheUnrecordedCertificate() async throws {
        try await TestCluster.with("secrestore", nodes: ["a", "b"], engines: [], leaderArguments: ["--node-cert-validity", "60s"]) { cluster in
            let directory = try #require(cluster.nodes["a"]?.directory)
            func serial() throws -> String { try MeshTLS.serialAndExpiry(ofPEM: String(contentsOfFile: "\(directory)/tls.pem", encoding: .utf8)).serial }
            let first = try serial()
            let backup = cluster.dir.sub("leader-backup")
            let made = try await cluster.ferry(["leader", "backup", "--data-dir", cluster.leader.dataDirectory, backup])
            #expect(made.status == 0, "\(made.stderr)")
            // a renews after two thirds of its certificate's life: the backup has no record of the new one.
            try await waitUntil("a renews its certificate", timeout: .seconds(90)) { try serial() != first }
            let unrecorded = try serial()
            let kept = cluster.dir.sub("kept")
            try FileManager.default.createDirectory(atPath: kept, withIntermediateDirectories: true)
            for file in ["tls.pem", "tls-key.pem"] { try FileManager.default.copyItem(atPath: "\(directory)/\(file)", toPath: "\(kept)/\(file)") }
            #expect(try serial() == unrecorded, "the kept key and certificate are one pair")
            let peer = try cluster.followerCurl("b")
            func presentKept() async throws -> String {
                try await runProcess(
                    "/usr/bin/curl", ["-s", "--max-time", "10", "--cert", "\(kept)/tls.pem", "--key", "\(kept)/tls-key.pem"] + peer.arguments + ["\(peer.base)/v2/"]
                ).stdout
            }
            let before = try await presentKept()
            #expect(before.contains("UNAUTHORIZED") && !before.contains("revoked"), "\(before)")

            await cluster.killLeader()
            let restored = cluster.dir.sub("leader-restored")
            let restore = try await cluster.ferry(["leader", "restore", backup, "--data-dir", restored])
            #expect(restore.status == 0, "\(restore.stderr)")
            try await cluster.restartLeader(dataDirectory: restored)
            try await waitUntil("a renews with the restored leader", timeout: .seconds(30)) { try serial() != unrecorded }
            try await waitUntil("b refuses a's certificate the restored leader never issued", timeout: .seconds(20)) {
                try await presentKept().contains("revoked")
            }
        }
    }
}
