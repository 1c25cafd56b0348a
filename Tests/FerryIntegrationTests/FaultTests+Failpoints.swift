import FerryCore
import FerryDiagnostics
import FerryMesh
import FerryTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

extension FaultTests {
    /// Crashes at chosen steps rather than random moments: the process is armed with
    /// `FERRY_FAILPOINTS` (``Failpoint``), dies exactly there with SIGKILL, is restarted unarmed,
    /// and the install completes with the checks of every scenario (each image runs on each node,
    /// no corrupt blob, one copy upstream plus what was in flight) and, on the node that died, one
    /// image in its engine: nothing half-loaded by the load it was killed in.
    @Test("A crash exactly at a chosen step of an install (failpoint) loses nothing", arguments: Failpoint.installSteps)
    func crashAtFailpoint(_ point: Failpoint) async throws {
        try await TestCluster.with("fp", nodes: ["n1", "n2"]) { cluster in
            let pushed = try await cluster.push("demo/app:1", layers: [.init("fp-a", "6M"), .init("fp-b", "3M")])
            // The upstream link throttled as in the kill scenario (1.5 MiB/s per connection): a
            // crash then loses only what was on the wire, not megabytes queued in loopback buffers.
            var plan = FaultProxy.Plan()
            plan.blobRate = 3 * 512 * 1024
            try await withFaultProxy(cluster, plan: plan) { proxy in
                let reference = proxy.rewrite(pushed)
                let armed = [Failpoint.environmentVariable: point.rawValue]
                let onLeader = point == .leaderBlobCommitted
                if onLeader {
                    await cluster.killLeader()
                    try await cluster.restartLeader(environment: armed)
                } else {
                    await cluster.killFollower("n1", signal: SIGTERM)
                    try await cluster.startFollower("n1", join: false, environment: armed)
                }
                // The leader may die before it answers (the config blob commits at once).
                let accepted = try? await cluster.admin.install(InstallRequest(images: [reference]))

                let log = onLeader ? { cluster.leader.process.log } : { cluster.followerLog("n1") }
                try await waitUntil("failpoint \(point.rawValue) to fire", timeout: .seconds(120)) {
                    log().contains("failpoint \(point.rawValue) reached")
                }
                if onLeader {
                    await cluster.leader.process.wait()
                    try await cluster.restartLeader()
                } else {
                    await cluster.killFollower("n1")  // already dead: reaps it
                    try await cluster.startFollower("n1", join: false)
                }

                var id = accepted?.id
                if id == nil { id = try await cluster.admin.installs().installs.first?.id }
                let install = try #require(id, "the install was recorded before the leader died")
                let followed = try await cluster.ferry(["status", "\(install)", "--follow"])
                #expect(followed.status == 0, "\(followed.stdout)\n\(followed.stderr)")
                let check = try await cluster.faultCheck(references: [reference], proxy: proxy)
                let images = try await cluster.engine("n1").docker(["images", "--all", "--quiet"])
                let loaded = Set(images.stdout.split(separator: "\n"))
                #expect(loaded.count == 1, "n1's engine holds \(loaded.count) images, not just the one installed")
                FaultReport.record(
                    "SIGKILL at failpoint \(point.rawValue) on \(onLeader ? "the leader" : "a follower")", faults: 1,
                    installs: followed.status == 0 ? "1/1" : "0/1", check: check)
            }
        }
    }
}
