import FerryCore
import FerryMesh
import FerryTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

extension SecurityTests {
    /// docs/security.md, left by the 2026-12-06 audit: a node that took the install's one load
    /// slot and never loaded, while it kept heartbeating, held it; the honest node waited until the
    /// install's deadline, or for ever.
    @Test("A node that holds the install's one load slot and never loads delays the honest node by one lease, then only itself")
    func loadSlotHeldByALiar() async throws {
        try await TestCluster.with("secslot", nodes: ["n1"], leaderArguments: ["--load-slot-lease", "5s"]) { cluster in
            let reference = try await FollowerStopTests.pushHeld(cluster, "demo/slot:1", size: "2M")
            // n1 is away while Mallory takes the slot (with the pull handoff it would ask first).
            await cluster.killFollower("n1", signal: SIGTERM)
            let mallory = try await MaliciousNode.join(cluster, name: "mallory")
            let beating = mallory.keepBeating()
            defer { beating.cancel() }
            let (install, target) = try await mallory.takeLoadSlot(in: cluster, reference, besides: ["n1"])

            try await cluster.startFollower("n1", join: false)
            let status = try await cluster.install(install.id, until: "n1 has loaded", timeout: .seconds(120)) { status in
                status.targets.first { $0.node == "n1" }?.state == .done
            }
            let hers = try #require(status.targets.first { $0.node == "mallory" })
            #expect(hers.state == .ready, "her slot was taken back: \(status.targets)")
            #expect(status.state == .running, "her target, and only hers, is unfinished")
            #expect(try await cluster.engine("n1").imageID(reference) != nil)
            // She cannot take a slot back by saying she loads.
            await #expect(throws: FerryError.self) { try await mallory.mesh.report(target: target, TargetReport(state: .loading)) }
            // Nobody waits any more: she may take a slot again, and delays only herself.
            #expect(try await mallory.mesh.requestLoad(target: target, wait: .seconds(5)).granted)
        }
    }
}
