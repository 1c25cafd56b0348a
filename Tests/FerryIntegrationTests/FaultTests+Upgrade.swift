import FerryCore
import FerryMesh
import FerryTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

extension FaultTests {
    /// The upgrade procedure of docs/operations.md ("Upgrades"), run during an install: the leader
    /// is stopped and started again (as with a new binary; this one is the same, which proves the
    /// procedure, not a particular pair of releases), the followers reconnect, then each follower
    /// is stopped and started again in turn, waiting until it is back before the next.
    @Test("Rolling upgrade during an install: leader first, then the followers one by one; the install completes, one copy upstream")
    func rollingUpgrade() async throws {
        try await TestCluster.with("fu", nodes: ["n1", "n2", "n3"]) { cluster in
            let pushed = [try await cluster.push("demo/app:1", layers: [.init("fu-base", "6M"), .init("fu-app", "6M")])]
            var plan = FaultProxy.Plan()
            plan.blobRate = 3 * 512 * 1024
            try await withFaultProxy(cluster, plan: plan) { proxy in
                let references = pushed.map { proxy.rewrite($0) }
                let accepted = try await cluster.admin.install(InstallRequest(images: references))
                try await waitUntil("the leader is fetching", timeout: .seconds(60)) {
                    try await cluster.admin.images().images.contains { $0.bytesDone > 0 }
                }
                // 1. The leader: stopped gracefully, started again on the same data directory and port.
                // The stop comes mid-install; checked before it, as after the restart the install
                // may finish before every follower is back on a loaded machine.
                #expect(try await cluster.admin.install(id: accepted.id).state == .running, "the restart came mid-install")
                await cluster.leader.process.stop()
                try await cluster.restartLeader()
                let restarted = Date()
                try await waitUntil("every follower heartbeats to the new leader", timeout: .seconds(60)) {
                    try await cluster.admin.nodes().nodes.allSatisfy { $0.lastSeen > restarted }
                }
                // 2. The followers, one at a time, each back before the next goes.
                for name in ["n1", "n2", "n3"] {
                    await cluster.killFollower(name, signal: SIGTERM)
                    let stopped = Date()
                    try await cluster.startFollower(name, join: false)
                    try await waitUntil("\(name) heartbeats again", timeout: .seconds(60)) {
                        try await cluster.admin.nodes().nodes.first { $0.name == name }.map { $0.lastSeen > stopped } ?? false
                    }
                }
                let followed = try await cluster.ferry(["status", "\(accepted.id)", "--follow"])
                #expect(followed.status == 0, "\(followed.stdout)\n\(followed.stderr)")
                let check = try await cluster.faultCheck(references: references, proxy: proxy)
                FaultReport.record(
                    "Rolling upgrade: leader, then 3 followers one by one, during an install", faults: 4,
                    installs: followed.status == 0 ? "1/1" : "0/1", check: check)
            }
        }
    }
}
