import FerryCore
import FerryMesh
import FerryPolicy
import FerryTestSupport
import Foundation
import Testing

/// What a switch carries from the old container and what it takes from the new image, on one
/// node: a HEALTHCHECK set in part, an anonymous volume's data, and a rollback after the old
/// tag moved on.
extension RolloutTests {
    /// Builds `FROM image` + `lines` as `tag` in `engine` and pushes it.
    static func build(_ engine: TestDockerEngine, _ dir: String, _ repository: String, tag: String, from image: String, _ lines: String) async throws {
        let directory = "\(dir)/carry-\(tag)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try "FROM \(image)\n\(lines)\n".write(toFile: "\(directory)/Dockerfile", atomically: true, encoding: .utf8)
        try check(await engine.docker(["build", "-q", "-t", "\(repository):\(tag)", directory]))
        try check(await engine.docker(["push", "-q", "\(repository):\(tag)"]))
    }

    static func shell(_ engine: TestDockerEngine, _ container: String, _ command: String) async throws -> ProcessResult {
        try await engine.docker(["exec", container, "/bin/sh", "-c", command])
    }

    @Test("a partial HEALTHCHECK takes the new image's test (a failing one fails the gate); anonymous volumes keep their data; a rollback after the tag moved keeps the container in its repository")
    func rolloutCarriesWhatIsTheUsers() async throws {
        try await TestCluster.with("rollout-carry", nodes: ["n1"]) { cluster in
            let engine = cluster.engine("n1")
            let repository = try await Self.pushImages(cluster, through: engine)
            let gate = ["--min-healthy", "1s", "--healthy-deadline", "20s"]
            let install = try await cluster.ferry(["install", "\(repository):1.1"])
            #expect(install.status == 0, "\(install.stderr)")
            // `good`: 1.1 with a passing check; `worse`: the same with a failing one.
            try await Self.build(engine, cluster.dir.sub("images"), repository, tag: "good", from: "\(repository):1.1", "HEALTHCHECK --interval=1s --retries=1 CMD true")
            try await Self.build(engine, cluster.dir.sub("images"), repository, tag: "worse", from: "\(repository):1.1", "HEALTHCHECK --interval=1s --retries=1 CMD false")
            try Self.check(await engine.docker(["rmi", "\(repository):worse"]))
            try Self.check(await engine.docker([
                "run", "-d", "--name", "hc", "--network", "none", "--health-interval", "2s", "-v", "/state", "\(repository):good",
            ]))
            try Self.check(await Self.shell(engine, "hc", "echo precious > /state/db"))
            try await waitUntil("hc healthy", timeout: .seconds(30)) {
                try await engine.docker(["inspect", "--format", "{{.State.Health.Status}}", "hc"]).stdout.contains("healthy")
            }
            let good = try #require(try await Self.containers(cluster, on: "n1")["hc"])

            // 1. The user set only the interval (2 s, the image 1 s): the new image's failing test applies and fails the gate.
            let worse = try await cluster.ferry(["rollout", "\(repository):worse"] + gate)
            #expect(worse.status == 1, "the failing HEALTHCHECK of the new image must fail the gate: \(worse.stdout)\n\(worse.stderr)")
            #expect(try await Self.containers(cluster, on: "n1")["hc"] == good, "the old container is back")
            var status = try await Self.newestRollout(cluster)
            if !status.isFinal { #expect(try await cluster.ferry(["rollout", "abort", status.id]).status == 0) }

            // 2. A container sharing hc's network namespace would lose it: the node is refused,
            // nothing touched. Then, without it, an anonymous volume (`-v /state`) keeps its data.
            try Self.check(await engine.docker(["run", "-d", "--name", "side", "--network", "container:hc", "\(repository):1.1"]))
            let sharing = try await cluster.ferry(["rollout", "\(repository):1.0"] + gate)
            #expect(sharing.status == 1 && sharing.stderr.contains("container side shares the network namespace of hc"), "\(sharing.stderr)")
            #expect(try await Self.containers(cluster, on: "n1")["hc"] == good, "hc untouched")
            status = try await Self.newestRollout(cluster)
            if !status.isFinal { #expect(try await cluster.ferry(["rollout", "abort", status.id]).status == 0) }
            try Self.check(await engine.docker(["rm", "-f", "side"]))
            let plain = try await cluster.ferry(["rollout", "\(repository):1.0"] + gate)
            #expect(plain.status == 0, "\(plain.stdout)\n\(plain.stderr)")
            let kept = try await Self.shell(engine, "hc", "cat /state/db")
            #expect(kept.stdout == "precious\n", "the anonymous volume's data: \(kept.stdout) \(kept.stderr)")

            // 3. `stable` names 1.0 when `st` starts, then 1.1. `zz`'s own HEALTHCHECK fails on any
            // image, so the node is put back after st switched: st runs 1.0 again, under a tag of
            // the repository (by image ID it would be of none), and the next rollout switches it.
            try Self.check(await engine.docker(["tag", "\(repository):1.0", "\(repository):stable"]))
            try Self.check(await engine.docker(["push", "-q", "\(repository):stable"]))
            try Self.check(await engine.docker(["run", "-d", "--name", "st", "--network", "none", "\(repository):stable"]))
            try Self.check(await engine.docker([
                "run", "-d", "--name", "zz", "--network", "none", "--health-cmd", "false", "--health-interval", "1s", "--health-retries", "1",
                "\(repository):stable",
            ]))
            let oldImage = try #require(try await engine.imageID("\(repository):1.0"))
            try Self.check(await engine.docker(["tag", "\(repository):1.1", "\(repository):stable"]))
            try Self.check(await engine.docker(["push", "-q", "\(repository):stable"]))
            let putBack = try await cluster.ferry(["rollout", "\(repository):stable", "--healthy-deadline", "5s", "--min-healthy", "1s"])
            #expect(putBack.status == 1, "zz fails its gate: \(putBack.stdout)\n\(putBack.stderr)")
            status = try await Self.newestRollout(cluster)
            let restored = try await engine.docker(["inspect", "--format", "{{.Config.Image}} {{.Image}}", "st"])
            #expect(restored.stdout == "\(repository):ferry-rollback-\(status.id) \(oldImage)\n", "\(restored.stdout)")
            if !status.isFinal { #expect(try await cluster.ferry(["rollout", "abort", status.id]).status == 0) }
            try Self.check(await engine.docker(["rm", "-f", "zz"]))
            let again = try await cluster.ferry(["rollout", "\(repository):1.1", "--cleanup"] + gate)
            #expect(again.status == 0, "\(again.stderr)")
            status = try await Self.newestRollout(cluster)
            #expect(Self.node(status, "n1")?.containers == 2, "hc and st switched (by image ID, st would be passed by): \(status)")
            let switched = try await engine.docker(["inspect", "--format", "{{.Config.Image}}", "st"])
            #expect(switched.stdout == "\(repository):1.1\n")

            // 4. `--cleanup`: once the node forgot the rollout, the image it replaced (1.0, named
            // `1.0` and `ferry-rollback-…`, used by no container now) is gone from the engine; an
            // image this rollout did not replace stays.
            try await waitUntil("the replaced image removed from the engine", timeout: .seconds(30)) {
                try await engine.imageID(oldImage) == nil
            }
            #expect(try await engine.imageID("\(repository):good") != nil, "not replaced by this rollout: kept")
            #expect(try await engine.imageID("\(repository):1.1") != nil)
        }
    }
}
