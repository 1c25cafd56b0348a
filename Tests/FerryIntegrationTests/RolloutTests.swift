import FerryCore
import FerryMesh
import FerryPolicy
import FerryTestSupport
import Foundation
import Testing

/// `ferry rollout` on a cluster of real processes, each follower with its own dockerd, images
/// from a real registry: distribution first, then the nodes' containers switched in waves.
@Suite("Rollouts", .serialized, .requiresRoot("dockerd"))
struct RolloutTests {
    /// A shell loop that stops at once on SIGTERM (busybox `sleep` as PID 1 would ignore it).
    static let loop = "trap 'exit 0' TERM; while true; do sleep 1; done"

    /// Builds `rollout/app:1.0`, `:1.1` (new env and label defaults) and `:bad` (a failing
    /// HEALTHCHECK) in `engine` and pushes them to the cluster's registry; they are then removed
    /// from that engine, so that every node gets them through Ferry.
    static func pushImages(_ cluster: TestCluster, through engine: TestDockerEngine) async throws -> String {
        let repository = "\(cluster.registry.host)/rollout/app"
        let work = cluster.dir.sub("images")
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        try await TestImages.generate(at: "\(work)/base.tar", tag: "rollout/base:1", layers: [], busybox: true)
        try check(await engine.docker(["load", "-i", "\(work)/base.tar"]))
        let builds: [(String, String)] = [
            ("1.0", "FROM rollout/base:1\nENV APP_VERSION=1.0 MODE=default\nLABEL app.version=1.0 vendor=acme\nWORKDIR /srv\nCMD [\"/bin/sh\", \"-c\", \"\(loop)\"]\n"),
            ("1.1", "FROM \(repository):1.0\nENV APP_VERSION=1.1\nLABEL app.version=1.1\n"),
            ("bad", "FROM \(repository):1.1\nHEALTHCHECK --interval=1s --timeout=1s --retries=1 CMD false\n"),
        ]
        for (tag, dockerfile) in builds {
            let directory = "\(work)/build-\(tag)"
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            try dockerfile.write(toFile: "\(directory)/Dockerfile", atomically: true, encoding: .utf8)
            try check(await engine.docker(["build", "-q", "-t", "\(repository):\(tag)", directory]))
            try check(await engine.docker(["push", "-q", "\(repository):\(tag)"]))
        }
        for tag in ["bad", "1.1", "1.0"] { try check(await engine.docker(["rmi", "\(repository):\(tag)"])) }
        try check(await engine.docker(["rmi", "rollout/base:1"]))
        return repository
    }

    static func check(_ result: ProcessResult) throws {
        guard result.succeeded else { throw FerryError(.internal, "docker: \(result.stderr)") }
    }

    /// Starts a node's containers of `image`: `web` (env, labels, a named volume, a bind mount, a
    /// restart policy, no network) and `worker` (a command override).
    static func runContainers(_ cluster: TestCluster, on node: String, image: String) async throws {
        let engine = cluster.engine(node)
        let bind = cluster.dir.sub("bind-\(node)")
        try FileManager.default.createDirectory(atPath: bind, withIntermediateDirectories: true)
        try check(await engine.docker([
            "run", "-d", "--name", "web", "-e", "TOKEN=x", "-e", "MODE=custom", "--label", "team=ops", "-v", "data:/data",
            "-v", "\(bind):/host:ro", "--restart", "unless-stopped", "--network", "none", image,
        ]))
        try check(await engine.docker([
            "run", "-d", "--name", "worker", "--network", "none", "--restart", "on-failure:3", image, "/bin/sh", "-c", "echo override; \(loop)",
        ]))
    }

    /// What `docker inspect` says of a container: the parts a switch must carry over or change.
    struct Inspection {
        var id: String
        var imageID: String
        var running: Bool
        var hostConfig: NSDictionary
        var env: Set<String>
        var labels: [String: String]
        var cmd: [String]
        var mounts: Set<String>

        static func of(_ name: String, in engine: TestDockerEngine) async throws -> Inspection {
            let result = try await engine.docker(["inspect", name])
            try RolloutTests.check(result)
            let array = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [[String: Any]])
            let object = try #require(array.first)
            let config = object["Config"] as? [String: Any] ?? [:]
            let state = object["State"] as? [String: Any] ?? [:]
            let mounts = (object["Mounts"] as? [[String: Any]] ?? []).map { "\($0["Type"] ?? "")|\($0["Name"] ?? $0["Source"] ?? "")|\($0["Destination"] ?? "")" }
            return Inspection(
                id: object["Id"] as? String ?? "", imageID: object["Image"] as? String ?? "", running: state["Running"] as? Bool ?? false,
                hostConfig: (object["HostConfig"] as? NSDictionary) ?? [:], env: Set(config["Env"] as? [String] ?? []),
                labels: config["Labels"] as? [String: String] ?? [:], cmd: config["Cmd"] as? [String] ?? [], mounts: Set(mounts))
        }

        /// The same user configuration as `old`, with the image's own defaults replaced.
        func carriesConfiguration(of old: Inspection, version: String, oldVersion: String) -> Bool {
            hostConfig == old.hostConfig && mounts == old.mounts && cmd == old.cmd
                && env.subtracting(["APP_VERSION=\(version)"]) == old.env.subtracting(["APP_VERSION=\(oldVersion)"])
                && labels.filter { $0.key != "app.version" } == old.labels.filter { $0.key != "app.version" }
                && labels["app.version"] == version && env.contains("APP_VERSION=\(version)")
        }
    }

    static func inspectAll(_ cluster: TestCluster, nodes: [String]) async throws -> [String: Inspection] {
        var all: [String: Inspection] = [:]
        for node in nodes {
            for name in ["web", "worker"] { all["\(node)/\(name)"] = try await Inspection.of(name, in: cluster.engine(node)) }
        }
        return all
    }

    /// The rollout's ID from `ferry rollout status` (the newest).
    static func newestRollout(_ cluster: TestCluster) async throws -> RolloutStatus {
        try #require(try await cluster.admin.rollouts().rollouts.first)
    }

    @Test("a rollout to app:1.1: canary then rollback, every node switched with its own configuration, a failing canary pauses and is put back")
    func rollouts() async throws {
        let nodes = ["n1", "n2", "n3"]
        try await TestCluster.with("rollout", nodes: nodes) { cluster in
            let repository = try await Self.pushImages(cluster, through: cluster.engine("n1"))
            let install = try await cluster.ferry(["install", "\(repository):1.0"])
            #expect(install.status == 0, "\(install.stderr)")
            for node in nodes { try await Self.runContainers(cluster, on: node, image: "\(repository):1.0") }
            let original = try await Self.inspectAll(cluster, nodes: nodes)
            let gate = ["--min-healthy", "1s", "--healthy-deadline", "20s"]

            // 1. A canary (manual wait): n1 switched, the rollout pauses; rollback puts n1 back on its old image ID.
            let canary = try await cluster.ferry(["rollout", "\(repository):1.1", "--canary", "1"] + gate)
            #expect(canary.status == 1)
            #expect(canary.stderr.contains("paused: canary wave done"), "\(canary.stderr)")
            var status = try await Self.newestRollout(cluster)
            #expect(status.phase == .paused)
            #expect(status.nodes.map(\.status) == [.switched, .distributed, .distributed])
            let canaried = try await Self.inspectAll(cluster, nodes: nodes)
            #expect(canaried["n1/web"]!.imageID != original["n1/web"]!.imageID)
            #expect(canaried["n2/web"]!.id == original["n2/web"]!.id && canaried["n3/worker"]!.id == original["n3/worker"]!.id, "no other node touched")
            let rollback = try await cluster.ferry(["rollout", "rollback", status.id])
            #expect(rollback.status == 0, "\(rollback.stderr)")
            try await waitUntil("the canary rolled back") { try await cluster.admin.rollout(id: status.id).phase == .rolledBack }
            let restored = try await Self.inspectAll(cluster, nodes: ["n1"])
            for name in ["n1/web", "n1/worker"] {
                #expect(restored[name]!.imageID == original[name]!.imageID && restored[name]!.running)
                #expect(restored[name]!.carriesConfiguration(of: original[name]!, version: "1.0", oldVersion: "1.0"))
            }

            // 2. The whole rollout, two nodes at a time: every container on 1.1 with its own configuration; exit 0.
            let full = try await cluster.ferry(["rollout", "\(repository):1.1", "--max-parallel", "2"] + gate)
            #expect(full.status == 0, "\(full.stdout)\n\(full.stderr)")
            status = try await Self.newestRollout(cluster)
            #expect(status.phase == .succeeded && status.nodes.allSatisfy { $0.status == .switched && $0.containers == 2 })
            let newImage = try #require(try await cluster.engine("n2").imageID("\(repository):1.1"))
            let switched = try await Self.inspectAll(cluster, nodes: nodes)
            for (name, after) in switched {
                let before = original[name]!
                #expect(after.id != before.id && after.imageID == newImage && after.running, "\(name)")
                #expect(after.carriesConfiguration(of: before, version: "1.1", oldVersion: "1.0"), "\(name): \(after) vs \(before)")
            }
            #expect(switched["n1/web"]!.env.isSuperset(of: ["TOKEN=x", "MODE=custom"]))
            #expect(switched["n3/worker"]!.cmd == ["/bin/sh", "-c", "echo override; \(Self.loop)"])
            // 3. A canary whose image fails its HEALTHCHECK: the rollout pauses, n1 is put back, no other node touched.
            let bad = try await cluster.ferry(["rollout", "\(repository):bad", "--canary", "1"] + gate)
            #expect(bad.status == 1)
            #expect(bad.stderr.contains("ferry: error: n1: "), "\(bad.stderr)")
            status = try await Self.newestRollout(cluster)
            #expect(status.phase == .paused && status.nodes.map(\.status) == [.failed, .distributed, .distributed])
            let afterBad = try await Self.inspectAll(cluster, nodes: nodes)
            for (name, after) in afterBad {
                #expect(after.id == switched[name]!.id && after.imageID == newImage && after.running, "\(name) back on 1.1 (the same container)")
            }
            let undo = try await cluster.ferry(["rollout", "rollback", status.id])
            #expect(undo.status == 0, "\(undo.stderr)")
            try await waitUntil("the failed canary rolled back") { try await cluster.admin.rollout(id: status.id).phase == .rolledBack }

            // The leader's metrics: rollouts by state, switches by outcome, the downtime histogram.
            let metrics = try await runChecked(
                "/usr/bin/curl", ["-sf", "--cacert", cluster.leader.caFile, "-H", "Authorization: Bearer \(cluster.leader.token)", "\(cluster.leader.url)/metrics"])
            #expect(metrics.contains(#"ferry_rollouts{state="rolledBack"} 2"#) && metrics.contains(#"ferry_rollouts{state="succeeded"} 1"#), "\(metrics)")
            #expect(metrics.contains(#"ferry_rollout_node_switches_total{outcome="passed"} 4"#))
            #expect(metrics.contains(#"ferry_rollout_node_switches_total{outcome="failed"} 1"#))
            #expect(metrics.contains("ferry_rollout_downtime_seconds_count 4"))
        }
    }
}
