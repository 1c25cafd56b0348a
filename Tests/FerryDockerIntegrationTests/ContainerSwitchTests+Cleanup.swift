import FerryCore
import FerryDocker
import FerryTestSupport
import Foundation
import Testing

extension ContainerSwitchTests {
    /// docs/rollouts.md, `--cleanup`: what Watchtower's `--cleanup` does after an update, kept
    /// to what the rollout replaced and to images no container uses.
    @Test("--cleanup removes the replaced images no container uses; one still used by a stopped container, or named by another repository, stays")
    func cleanupRemovesOnlyUnusedReplacedImages() async throws {
        let engine = try DockerEngineFixture.shared
        try await Self.images(engine)
        // Images of their own (a label apart), so that no other test's tag keeps them.
        let builds: [(String, String)] = [
            ("clean/app:0.8", "FROM rollout/app:1.0\nLABEL clean=0.8\n"),
            ("clean/app:0.9", "FROM rollout/app:1.0\nLABEL clean=0.9\n"),
            ("clean/app:1.0", "FROM rollout/app:1.0\nLABEL clean=1.0\n"),
            ("clean/app:2.0", "FROM rollout/app:1.1\nLABEL clean=2.0\n"),
        ]
        let work = try engine.workDirectory("clean-images")
        for (index, (tag, dockerfile)) in builds.enumerated() {
            let directory = "\(work)/build-\(index)"
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            try dockerfile.write(toFile: "\(directory)/Dockerfile", atomically: true, encoding: .utf8)
            try Self.check(await engine.docker(["build", "-q", "-t", tag, directory]))
        }
        try Self.check(await engine.docker(["tag", "clean/app:0.9", "shared/app:0.9"]))
        let ids = try await ["clean/app:0.8", "clean/app:0.9", "clean/app:1.0"].asyncMap { try #require(try await engine.client.inspectImage($0)).id }
        for (name, tag) in [("clean-a", "1.0"), ("clean-b", "0.9"), ("clean-c", "0.8")] {
            try Self.check(await engine.docker(["run", "-d", "--name", name, "--network", "none", "clean/app:\(tag)"]))
        }
        // Stopped: not switched, so its image is still in use.
        try Self.check(await engine.docker(["create", "--name", "clean-stopped", "--network", "none", "clean/app:0.8"]))

        let journal = MemorySwitchJournal()
        let node = NodeRollout(switcher: ContainerSwitch(client: engine.client, journal: journal, options: Self.options()))
        let repository = try ImageReference(parsing: "clean/app")
        let switched = await node.switchNode(rollout: "rc", image: "clean/app:2.0", repository: repository)
        guard case .passed(let count, _) = switched else {
            Issue.record("switch failed: \(switched)")
            return
        }
        #expect(count == 3)

        let removed = await node.removeReplacedImages(rollout: "rc", repository: repository)
        #expect(Set(removed) == ["clean/app:1.0", "clean/app:0.9"])
        #expect(try await engine.client.inspectImage(ids[2]) == nil, "unused and of this repository alone: removed")
        #expect(try await engine.client.inspectImage(ids[1])?.repoTags == ["shared/app:0.9"], "named by another repository: that name keeps it")
        #expect(try await engine.client.inspectImage(ids[0])?.hasTag("clean/app:0.8") == true, "used by a stopped container: kept")
        #expect(try await engine.client.inspectImage("clean/app:2.0") != nil)
        #expect(await node.removeReplacedImages(rollout: "rc", repository: repository) == [], "a second pass finds nothing left to remove")

        _ = try await engine.docker(["rm", "-f", "clean-a", "clean-b", "clean-c", "clean-stopped"])
        _ = try await engine.docker(["rmi", "clean/app:0.8", "clean/app:2.0", "shared/app:0.9"])
    }
}
