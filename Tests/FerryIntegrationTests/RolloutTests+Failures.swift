import FerryCore
import FerryDiagnostics
import FerryMesh
import FerryPolicy
import FerryTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Rollouts that go wrong, on the fixtures of ``RolloutTests``: bad input, nodes that fail or go
/// silent, a follower killed mid-switch, the leader killed mid-rollout.
extension RolloutTests {
    /// Every container of a node's engine, by name: `ID IMAGE-ID running|stopped`.
    static func containers(_ cluster: TestCluster, on node: String) async throws -> [String: String] {
        let engine = cluster.engine(node)
        let ids = try await engine.docker(["ps", "-aq", "--no-trunc"])
        try check(ids)
        let list = ids.stdout.split(separator: "\n").map(String.init)
        guard !list.isEmpty else { return [:] }
        let result = try await engine.docker(["inspect", "--format", "{{.Name}} {{.Id}} {{.Image}} {{.State.Running}}"] + list)
        try check(result)
        var all: [String: String] = [:]
        for line in result.stdout.split(separator: "\n") {
            let fields = line.split(separator: " ").map(String.init)
            guard fields.count == 4 else { continue }
            all[String(fields[0].dropFirst())] = "\(fields[1]) \(fields[2]) \(fields[3] == "true" ? "running" : "stopped")"
        }
        return all
    }

    static func rollout(_ cluster: TestCluster, _ id: String) async throws -> RolloutStatus {
        try await cluster.admin.rollout(id: id)
    }

    static func node(_ status: RolloutStatus, _ name: String) -> RolloutNodeStatus? {
        status.nodes.first { $0.name == name }
    }

    /// Bad input on a 2-node cluster (n2 has no container of the image): an image that cannot be
    /// fetched, start-first with a host port, then a follower killed at the failpoint between
    /// stopping the old container and starting the new one; the last rollout also shows a node
    /// with nothing to replace is reported, not a failure.
    @Test("rollouts refused or interrupted: an unfetchable image touches no container, start-first with a host port is refused, a follower killed mid-switch leaves one container per name, a node with no container is not a failure")
    func rolloutBadInput() async throws {
        try await TestCluster.with("rollout-bad", nodes: ["n1", "n2"]) { cluster in
            let repository = try await Self.pushImages(cluster, through: cluster.engine("n1"))
            let install = try await cluster.ferry(["install", "\(repository):1.0"])
            #expect(install.status == 0, "\(install.stderr)")
            try await Self.runContainers(cluster, on: "n1", image: "\(repository):1.0")
            try Self.check(await cluster.engine("n1").docker(["run", "-d", "--name", "front", "--network", "none", "-p", "18080:80", "\(repository):1.0"]))
            let before = try await Self.containers(cluster, on: "n1")
            #expect(before.count == 3 && before.values.allSatisfy { $0.hasSuffix("running") })
            let gate = ["--min-healthy", "1s", "--healthy-deadline", "20s"]

            // (d) A tag the registry does not have: refused in one line, no rollout recorded (none
            // paused, holding the repository), no container touched; an unknown node is named as such.
            let missing = try await cluster.ferry(["rollout", "\(repository):nope"] + gate)
            #expect(missing.status == 1)
            #expect(
                missing.stderr.hasPrefix("ferry: error: no rollout of \(repository):nope: ") && missing.stderr.split(separator: "\n").count == 1,
                "\(missing.stderr)")
            #expect(try await cluster.admin.rollouts().rollouts.isEmpty)
            #expect(try await Self.containers(cluster, on: "n1") == before)
            #expect(try await Self.containers(cluster, on: "n2").isEmpty)
            let unknown = try await cluster.ferry(["rollout", "\(repository):1.1", "--nodes", "n9"] + gate)
            #expect(unknown.status == 1 && unknown.stderr.contains("unknown node 'n9'"), "\(unknown.stderr)")
            var status: RolloutStatus

            // (f) start-first with a container binding a host port: refused with the reason, nothing touched.
            let startFirst = try await cluster.ferry(["rollout", "\(repository):1.1", "--order", "start-first"] + gate)
            #expect(startFirst.status == 1)
            #expect(startFirst.stderr.contains("ferry: error: n1: container front binds host port 18080"), "\(startFirst.stderr)")
            status = try await Self.newestRollout(cluster)
            #expect(Self.node(status, "n1")?.status == .failed)
            #expect(try await Self.containers(cluster, on: "n1") == before, "the old containers still run, unchanged")
            if !status.isFinal { #expect(try await cluster.ferry(["rollout", "abort", status.id]).status == 0) }

            // (g) The follower dies (SIGKILL, failpoint) between stopping an old container and starting its new one.
            await cluster.killFollower("n1", signal: SIGTERM)
            try await cluster.startFollower("n1", join: false, environment: [Failpoint.environmentVariable: Failpoint.followerSwitchOldStopped.rawValue])
            let armed = try #require(cluster.nodes["n1"]?.process)
            let accepted = try await cluster.ferry(["rollout", "\(repository):1.1", "--no-wait"] + gate)
            #expect(accepted.status == 0, "\(accepted.stderr)")
            var waitStatus: Int32 = 0
            try await waitUntil("the follower killed at the failpoint", timeout: .seconds(90)) { waitpid(armed.pid, &waitStatus, WNOHANG) == armed.pid }
            #expect(waitStatus & 0x7f == SIGKILL)
            let interrupted = try await Self.containers(cluster, on: "n1")
            // The first container switched (`front`, by name): old one stopped, new one created, not started.
            #expect(interrupted["front"]?.hasSuffix("stopped") == true && interrupted["front-ferry-new"]?.hasSuffix("stopped") == true, "\(interrupted)")
            await cluster.killFollower("n1")  // reaped already: forgets the process
            try await cluster.startFollower("n1", join: false)
            status = try await Self.newestRollout(cluster)
            let followed = try await cluster.ferry(["rollout", "status", status.id, "--follow"])
            // (e) n2 has no container of the repository: reported, not a failure.
            #expect(followed.status == 0, "\(followed.stdout)\n\(followed.stderr)")
            status = try await Self.rollout(cluster, status.id)
            #expect(status.phase == .succeeded)
            #expect(Self.node(status, "n1")?.status == .switched && Self.node(status, "n1")?.containers == 3)
            #expect(Self.node(status, "n2")?.status == .noContainers)
            let newImage = try #require(try await cluster.engine("n1").imageID("\(repository):1.1"))
            let after = try await Self.containers(cluster, on: "n1")
            #expect(after.keys.sorted() == ["front", "web", "worker"], "one container per name, no switch leftovers: \(after)")
            #expect(after.values.allSatisfy { $0.hasSuffix("\(newImage) running") }, "\(after)")
            #expect(try await Self.containers(cluster, on: "n2").isEmpty)

            // (h) The follower stopped (SIGTERM, as `systemctl stop`) while a new container is in
            // its gate: the old container is put back before the follower exits, not when it
            // is next started (before: the container stayed stopped until then).
            let back = try await cluster.ferry(["rollout", "\(repository):1.0", "--no-wait", "--min-healthy", "60s", "--healthy-deadline", "120s"])
            #expect(back.status == 0, "\(back.stderr)")
            try await waitUntil("n1's first container in its gate", timeout: .seconds(60)) {
                try await Self.containers(cluster, on: "n1")["front"].map { $0.hasSuffix("running") && $0 != after["front"] } == true
            }
            await cluster.killFollower("n1", signal: SIGTERM)
            #expect(try await Self.containers(cluster, on: "n1") == after, "every container as before the rollout, running")
            status = try await Self.newestRollout(cluster)
            if !status.isFinal { #expect(try await cluster.ferry(["rollout", "abort", status.id]).status == 0) }
        }
    }

    /// `--on-failure rollback` (n2's second wave fails: n1, switched, is put back), then
    /// `--max-failure-ratio` with n2's follower stopped after phase 1 (its deadline counts it
    /// failed, n3 still switched).
    @Test("a failing wave with --on-failure rollback restores every switched node; a node offline during the switch counts failed at its deadline and the others go on")
    func rolloutFailures() async throws {
        let nodes = ["n1", "n2", "n3"]
        try await TestCluster.with("rollout-fail", nodes: nodes) { cluster in
            let repository = try await Self.pushImages(cluster, through: cluster.engine("n1"))
            let install = try await cluster.ferry(["install", "\(repository):1.0"])
            #expect(install.status == 0, "\(install.stderr)")
            for node in nodes { try await Self.runContainers(cluster, on: node, image: "\(repository):1.0") }
            // On n2, a container that exits on any version but 1.0: its switch fails its gate.
            try Self.check(await cluster.engine("n2").docker([
                "run", "-d", "--name", "picky", "--network", "none", "\(repository):1.0", "/bin/sh", "-c",
                "test \"$APP_VERSION\" = 1.0 || exit 3; \(Self.loop)",
            ]))
            var original: [String: [String: String]] = [:]
            for node in nodes { original[node] = try await Self.containers(cluster, on: node) }
            let inspected = try await Self.inspectAll(cluster, nodes: ["n1"])

            // (c) One node at a time; n2 fails: n1 is rolled back to its old image IDs, n3 never touched.
            let rollback = try await cluster.ferry(["rollout", "\(repository):1.1", "--on-failure", "rollback", "--min-healthy", "2s", "--healthy-deadline", "20s"])
            #expect(rollback.status == 1)
            #expect(rollback.stderr.contains("ferry: error: n2: picky: ") && rollback.stderr.contains("rolled back"), "\(rollback.stderr)")
            var status = try await Self.newestRollout(cluster)
            let first = status.id
            #expect(status.phase == .rolledBack, "\(status)")
            #expect(Self.node(status, "n1")?.status == .restored && Self.node(status, "n2")?.status == .failed)
            #expect(Self.node(status, "n3")?.status == .distributed)
            let restored = try await Self.inspectAll(cluster, nodes: ["n1"])
            for name in ["n1/web", "n1/worker"] {
                #expect(restored[name]!.id != inspected[name]!.id, "\(name) was switched, then recreated")
                #expect(restored[name]!.imageID == inspected[name]!.imageID && restored[name]!.running, "\(name) back on its old image ID")
                #expect(restored[name]!.carriesConfiguration(of: inspected[name]!, version: "1.0", oldVersion: "1.0"))
            }
            #expect(try await Self.containers(cluster, on: "n2") == original["n2"], "n2 put its own containers back")
            #expect(try await Self.containers(cluster, on: "n3") == original["n3"], "n3 untouched")

            // (b) n2's follower stopped once phase 1 is over: n1 and n3 switched, n2 failed at its deadline.
            try Self.check(await cluster.engine("n2").docker(["rm", "-f", "picky"]))
            let n2Before = try await Self.containers(cluster, on: "n2")
            async let offline = cluster.ferry([
                "rollout", "\(repository):1.1", "--max-failure-ratio", "0.5", "--min-healthy", "2s", "--healthy-deadline", "3s",
            ])
            try await waitUntil("phase 1 over") {
                let newest = try await Self.newestRollout(cluster)
                return newest.id != first && newest.phase != .distributing
            }
            await cluster.killFollower("n2", signal: SIGTERM)
            let result = try await offline
            #expect(result.status == 1)
            #expect(result.stderr.contains("ferry: error: n2: "), "\(result.stderr)")
            // A failure here once (n1 "stopped answering" under CI load) came with no node log: the
            // switching nodes' heartbeat and switch lines go with it now.
            let trouble = ["n1", "n3"].map { node in
                "\(node): " + cluster.followerLog(node).split(separator: "\n")
                    .filter { ["heartbeat", "engine", "switch", "rollout", "warning", "error"].contains(where: $0.contains) }.suffix(20).joined(separator: "\n")
            }.joined(separator: "\n")
            #expect(
                !result.stderr.contains("ferry: error: n1: ") && !result.stderr.contains("ferry: error: n3: "), "\(result.stderr)\n\(trouble)")
            status = try await Self.newestRollout(cluster)
            #expect(status.phase == .failed, "\(status)")
            #expect(status.nodes.map(\.status) == [.switched, .failed, .switched], "\(status.nodes)")
            let newImage = try #require(try await cluster.engine("n1").imageID("\(repository):1.1"))
            for node in ["n1", "n3"] {
                let after = try await Self.containers(cluster, on: node)
                #expect(after.keys.sorted() == ["web", "worker"] && after.values.allSatisfy { $0.hasSuffix("\(newImage) running") }, "\(node): \(after)")
            }
            // n2 back: its containers were never touched (it gets a restore with nothing to put back).
            try await cluster.startFollower("n2", join: false)
            #expect(try await Self.containers(cluster, on: "n2") == n2Before)
        }
    }

    /// The leader SIGKILLed during the canary wait and again mid-wave, restarted on its data
    /// directory: the rollout resumes and completes; the switch phase moves no byte over the mesh.
    @Test("the leader killed during a canary wait and mid-wave: the rollout resumes and completes, and its switch phase moves zero bytes over the mesh")
    func rolloutLeaderRestart() async throws {
        let nodes = ["n1", "n2", "n3"]
        try await TestCluster.with("rollout-restart", nodes: nodes) { cluster in
            let repository = try await Self.pushImages(cluster, through: cluster.engine("n1"))
            let install = try await cluster.ferry(["install", "\(repository):1.0"])
            #expect(install.status == 0, "\(install.stderr)")
            for node in nodes { try await Self.runContainers(cluster, on: node, image: "\(repository):1.0") }
            let original = try await Self.inspectAll(cluster, nodes: nodes)
            var received: [String: Double] = [:]
            for node in nodes { received[node] = try await cluster.receivedBytes(of: node) }

            let canary = try await cluster.ferry(["rollout", "\(repository):1.1", "--canary", "1", "--min-healthy", "4s", "--healthy-deadline", "20s"])
            #expect(canary.status == 1 && canary.stderr.contains("paused: canary wave done"), "\(canary.stderr)")
            let id = try await Self.newestRollout(cluster).id
            // Phase 1 is over: from here on (the switches of n2 and n3), no blob byte moves.
            var distributed: [String: Double] = [:]
            for node in nodes { distributed[node] = try await cluster.receivedBytes(of: node) }
            #expect(nodes.contains { distributed[$0]! > received[$0]! }, "phase 1 moved the new image's blobs")

            // 1. Killed during the canary wait: the restarted leader holds the paused rollout.
            await cluster.killLeader()
            try await cluster.restartLeader()
            var status = try await Self.rollout(cluster, id)
            #expect(status.phase == .paused && status.nodes.map(\.status) == [.switched, .distributed, .distributed], "\(status)")
            let resume = try await cluster.ferry(["rollout", "resume", id])
            #expect(resume.status == 0, "\(resume.stderr)")

            // 2. Killed while n2 switches (its gate takes 4 s): n2's report waits for the new leader.
            try await waitUntil("n2 switching") { Self.node(try await Self.rollout(cluster, id), "n2")?.status == .switching }
            await cluster.killLeader()
            try await cluster.restartLeader()
            let followed = try await cluster.ferry(["rollout", "status", id, "--follow"])
            #expect(followed.status == 0, "\(followed.stdout)\n\(followed.stderr)")
            status = try await Self.rollout(cluster, id)
            #expect(status.phase == .succeeded && status.nodes.allSatisfy { $0.status == .switched && $0.containers == 2 }, "\(status)")

            let newImage = try #require(try await cluster.engine("n2").imageID("\(repository):1.1"))
            let switched = try await Self.inspectAll(cluster, nodes: nodes)
            for (name, after) in switched {
                #expect(after.imageID == newImage && after.running, "\(name)")
                #expect(after.carriesConfiguration(of: original[name]!, version: "1.1", oldVersion: "1.0"), "\(name)")
            }
            for node in nodes {
                #expect(try await Self.containers(cluster, on: node).keys.sorted() == ["web", "worker"], "\(node): one container per name")
                #expect(try await cluster.receivedBytes(of: node) == distributed[node], "\(node): the switch phase moved no byte over the mesh")
            }
        }
    }
}
