import FerryCore
import FerryMesh
import FerryPolicy
import FerryTestSupport
import Foundation
import Testing

extension RolloutTests {
    /// docs/rollouts.md, *Switching one container*: the only window with no container running is
    /// the stop-first gap. An audit stopped a node's dockerd mid-switch and started it again: the
    /// old container stayed stopped (Ferry's own stop counts as a manual one for `unless-stopped`)
    /// until the follower was restarted.
    @Test("an engine stopped and started again mid-switch: the old container is back as soon as the engine answers, the follower not restarted")
    func engineRestartMidSwitch() async throws {
        try await TestCluster.with("rollout-engine", nodes: ["n1"]) { cluster in
            let repository = try await Self.pushImages(cluster, through: cluster.engine("n1"))
            #expect(try await cluster.ferry(["install", "\(repository):1.0"]).status == 0)
            try await Self.runContainers(cluster, on: "n1", image: "\(repository):1.0")
            let before = try await Self.containers(cluster, on: "n1")
            let follower = try #require(cluster.nodes["n1"]?.process?.pid)
            let accepted = try await cluster.ferry(["rollout", "\(repository):1.1", "--no-wait", "--min-healthy", "60s", "--healthy-deadline", "120s"])
            #expect(accepted.status == 0, "\(accepted.stderr)")
            // The ID alone, for scripts.
            let id = accepted.stdout.trimmingWhitespace()
            #expect(id.hasPrefix("r") && !id.contains(" "), "\(accepted.stdout)")
            #expect(try await cluster.ferry(["rollout", "status", id]).status == 0)
            try await waitUntil("web's new container in its gate", timeout: .seconds(90)) {
                try await Self.containers(cluster, on: "n1")["web"].map { $0.hasSuffix("running") && $0 != before["web"] } == true
            }
            let engine = cluster.engine("n1")
            await engine.stop()
            _ = try await TestDockerEngine.start(in: engine.directory)
            do {
                try await waitUntil("web is its old container again, running", timeout: .seconds(90)) {
                    try await Self.containers(cluster, on: "n1")["web"] == before["web"]
                }
            } catch {
                let log = cluster.followerLog("n1").split(separator: "\n").filter { $0.contains("switch") || $0.contains("rollout") || $0.contains("recover") }
                // What the engine did with them: shutdown, restart policy, the follower's calls.
                let engineLog = ((try? String(contentsOfFile: "\(engine.directory)/dockerd.log", encoding: .utf8)) ?? "").split(separator: "\n")
                    .filter { line in ["shutdown", "Shutdown", "restart", "level=error", "level=warn"].contains { line.contains($0) } }
                Issue.record(
                    "\(error); containers \(try await Self.containers(cluster, on: "n1")); follower: \(log.suffix(30).joined(separator: "\n")); dockerd: \(engineLog.suffix(30).joined(separator: "\n"))")
                throw error
            }
            let after = try await Self.containers(cluster, on: "n1")
            #expect(!after.keys.contains { $0.hasSuffix("-ferry-new") || $0.hasSuffix("-ferry-old") }, "\(after)")
            #expect(cluster.nodes["n1"]?.process?.pid == follower, "recovered by the running follower")
            let status = try await Self.newestRollout(cluster)
            #expect(Self.node(status, "n1")?.status == .failed)
            if !status.isFinal { #expect(try await cluster.ferry(["rollout", "abort", status.id]).status == 0) }
        }
    }
}
