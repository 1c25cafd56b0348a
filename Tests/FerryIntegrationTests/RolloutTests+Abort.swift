import FerryCore
import FerryMesh
import FerryPolicy
import FerryTestSupport
import Foundation
import Testing

extension RolloutTests {
    /// docs/rollouts.md, `abort`: an audit aborted a rollout while a node was switching and saw
    /// the node switch its remaining containers over the next 30 s.
    @Test("abort while a node switches: the container in its gate goes back, no other is touched, the node reports the stop; the next rollout runs")
    func abortStopsTheSwitchingNode() async throws {
        try await TestCluster.with("rollout-abort", nodes: ["n1"]) { cluster in
            let engine = cluster.engine("n1")
            let repository = try await Self.pushImages(cluster, through: engine)
            #expect(try await cluster.ferry(["install", "\(repository):1.0"]).status == 0)
            try await Self.runContainers(cluster, on: "n1", image: "\(repository):1.0")
            // Switched first (by name): `extra`, then `web`, then `worker`.
            try Self.check(await engine.docker(["run", "-d", "--name", "extra", "--network", "none", "\(repository):1.0"]))
            let before = try await Self.containers(cluster, on: "n1")
            let accepted = try await cluster.ferry(["rollout", "\(repository):1.1", "--no-wait", "--min-healthy", "8s", "--healthy-deadline", "60s"])
            #expect(accepted.status == 0, "\(accepted.stderr)")
            let id = accepted.stdout.trimmingWhitespace()
            try await waitUntil("web's new container in its gate, extra switched", timeout: .seconds(90)) {
                // A container the switch removes between `docker ps` and `docker inspect` fails one look.
                (try? await Self.containers(cluster, on: "n1"))?["web"].map { $0.hasSuffix("running") && $0 != before["web"] } == true
            }
            let aborted = try await cluster.ferry(["rollout", "abort", id])
            #expect(aborted.status == 0, "\(aborted.stderr)")
            var node: RolloutNodeStatus?
            try await waitUntil("n1 reports the stop", timeout: .seconds(30)) {
                node = Self.node(try await cluster.admin.rollout(id: id), "n1")
                return node?.status != .switching
            }
            #expect(node?.status == .failed && node?.reason?.hasPrefix("stopped by the rollout's abort: 1 switched (extra)") == true, "\(String(describing: node))")
            let after = try await Self.containers(cluster, on: "n1")
            #expect(after["web"] == before["web"], "web's old container back, running: \(after)")
            #expect(after["worker"] == before["worker"], "worker untouched")
            #expect(after["extra"] != before["extra"] && after["extra"]?.hasSuffix("running") == true, "extra keeps its switch")
            #expect(after.count == 3, "no -ferry-new or -ferry-old left: \(after.keys.sorted())")
            // The repository is free again once the node forgot the rollout: the next one runs.
            try await waitUntil("the next rollout of the repository accepted", timeout: .seconds(30)) {
                try await cluster.ferry(["rollout", "\(repository):1.1", "--min-healthy", "1s"]).status == 0
            }
            let switched = try await Self.containers(cluster, on: "n1")
            #expect(["web", "worker"].allSatisfy { switched[$0] != before[$0] && switched[$0]?.hasSuffix("running") == true }, "\(switched)")
        }
    }
}
