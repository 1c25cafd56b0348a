import FerryCore
import FerryMesh
import FerryTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

extension PeerTests {
    /// docs/configuration.md, `--advertise`: a follower on every interface (the default
    /// `--listen 0.0.0.0:5051`) without `--advertise` used to advertise 127.0.0.1, and the leader
    /// sent its peers there: peers on other machines never reached it. n1 runs in a network
    /// namespace of its own (another machine, as far as addresses go).
    @Test("A follower listening on every interface without --advertise is listed at the address its connections come from, and its peers reach it there")
    func everyInterfaceIsAdvertisedAsSeen() async throws {
        let jail = try await NetworkJail.create()
        defer { Task { await jail.remove() } }
        try await TestCluster.with("paddr", nodes: ["n1", "n2"], jailed: ["n1": jail]) { cluster in
            await cluster.killFollower("n1", signal: SIGTERM)
            try await cluster.startFollower("n1", join: false, listen: "0.0.0.0:0")
            let port = try NodeAddress(parsing: cluster.followerAddress("n1"), allowPlainHTTP: true).port
            try await waitUntil("the leader lists n1 at its namespace's address", every: .milliseconds(200)) {
                try await cluster.admin.nodes().nodes.first { $0.name == "n1" }?.address == "https://\(jail.address):\(port)"
            }
            // n1 holds the image; n2 is sent to it and receives from it.
            let reference = try await cluster.push("demo/app:1", layers: [.init("paddr", "8M")])
            #expect(try await cluster.ferry(["install", reference, "--nodes", "n1"]).status == 0)
            #expect(try await cluster.ferry(["install", reference, "--nodes", "n2"]).status == 0)
            let fromPeers = try await cluster.metrics(of: "n2")["ferry_received_bytes_total{source=\"peer\"}"] ?? 0
            #expect(fromPeers >= 8 * 1024 * 1024, "n2 received \(fromPeers) bytes from peers")
            #expect(!cluster.followerLog("n2").contains("source failed"), "\(cluster.followerLog("n2").suffix(2000))")
        }
    }
}
