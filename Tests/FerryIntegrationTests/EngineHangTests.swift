import FerryCore
import FerryMesh
import FerryTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A node's Docker engine that hangs is the engine's trouble, not the node's: the follower's
/// heartbeat does not wait on the engine (docs/operations.md, *Nodes*).
@Suite("Engine that hangs", .requiresRoot("dockerd"))
struct EngineHangTests {
    @Test("a Docker engine that hangs (SIGSTOP): the node stays reachable and `ferry nodes` says the engine is not answering; resumed, its version is back")
    func hungEngineKeepsTheNodeReachable() async throws {
        try await TestCluster.with("engine-hang", nodes: ["n1"]) { cluster in
            let node = { try #require(try await cluster.admin.nodes().nodes.first { $0.name == "n1" }) }
            try await waitUntil("n1's engine version known") { try await node().dockerVersion != nil }
            let pidText = try String(contentsOfFile: "\(cluster.engine("n1").directory)/docker.pid", encoding: .utf8)
            let dockerd = try #require(pid_t(pidText.trimmingWhitespace()))
            kill(dockerd, SIGSTOP)
            var resumed = false
            defer { if !resumed { kill(dockerd, SIGCONT) } }

            // Before: the heartbeat waited for the engine's /_ping (60 s), so after three missed
            // heartbeats (15 s) the leader showed the node unreachable, and a rollout failed it.
            try await waitUntil("the engine shown not answering") { try await node().dockerError?.contains("has not answered") == true }
            let watched = ContinuousClock.now
            var states: [NodeState] = []
            while ContinuousClock.now - watched < MeshAPI.heartbeatInterval * 4 {
                states.append(try await node().state)
                try await Task.sleep(for: .milliseconds(500))
            }
            #expect(states.allSatisfy { $0 == .reachable }, "n1 over four heartbeats with its engine hung: \(states)")
            // The reason shown may be the probe's timeout by now (60 s), on a busy machine.
            let listed = try await cluster.ferry(["nodes"])
            #expect(listed.status == 0 && listed.stdout.contains("unreachable ("), "\(listed.stdout)")

            kill(dockerd, SIGCONT)
            resumed = true
            try await waitUntil("the engine's version back") {
                let now = try await node()
                return now.dockerVersion != nil && now.dockerError == nil && now.state == .reachable
            }
        }
    }
}
