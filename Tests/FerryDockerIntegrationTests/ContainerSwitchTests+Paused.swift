import FerryCore
import FerryDocker
import FerryFormats
import FerryTestSupport
import Foundation
import Testing

extension ContainerSwitchTests {
    /// An audit paused a container (`docker pause`) and saw the rollout bring it back on the new
    /// image, running and unpaused.
    @Test("a paused container is left as it is: on its old image, still paused; the running one beside it is switched")
    func pausedContainerIsLeftAlone() async throws {
        let engine = try await Self.engine(taggedAs: "paused/app")
        try Self.check(await engine.docker(["run", "-d", "--name", "paused-a", "--network", "none", "paused/app:1.0"]))
        try Self.check(await engine.docker(["run", "-d", "--name", "paused-b", "--network", "none", "paused/app:1.0"]))
        try Self.check(await engine.docker(["pause", "paused-b"]))
        let before = try #require(try await engine.client.inspectContainer("paused-b"))
        let node = NodeRollout(switcher: ContainerSwitch(client: engine.client, journal: MemorySwitchJournal(), options: Self.options()))
        let switched = await node.switchNode(rollout: "rp", image: "paused/app:1.1", repository: try ImageReference(parsing: "paused/app"))
        guard case .passed(let count, _) = switched else {
            Issue.record("switch failed: \(switched)")
            return
        }
        #expect(count == 1)
        let after = try #require(try await engine.client.inspectContainer("paused-b"))
        #expect(after.id == before.id && after.imageID == before.imageID && after.state.status == "paused")
        #expect(try await engine.client.inspectContainer("paused-a")?.config["Image"]?.stringValue == "paused/app:1.1")
        _ = try await engine.docker(["unpause", "paused-b"])
        _ = try await engine.docker(["rm", "-f", "paused-a", "paused-b"])
    }

    /// An audit measured 1.3–1.5 s without service where the node reported 13 s: the stop plus the
    /// whole `--min-healthy` watch, during which the new container already served.
    @Test("downtime without a HEALTHCHECK runs from the stop to the new container's start, not through the --min-healthy watch")
    func downtimeLeavesOutTheWatch() async throws {
        let engine = try await Self.engine(taggedAs: "gap/app")
        try Self.check(await engine.docker(["run", "-d", "--name", "gap-a", "--network", "none", "gap/app:1.0"]))
        let old = try #require(try await engine.client.inspectContainer("gap-a"))
        var options = Self.options()
        options.minHealthy = .seconds(6)
        let switcher = ContainerSwitch(client: engine.client, journal: MemorySwitchJournal(), options: options)
        let start = ContinuousClock.now
        let outcome = try await switcher.switchContainer(old, to: "gap/app:1.1", rollout: "rg")
        let elapsed = ContinuousClock.now - start
        #expect(outcome.passed && elapsed >= .seconds(6), "the watch ran: \(outcome.failure ?? "")")
        let downtime = try #require(outcome.downtime)
        // The watch follows the new container's start, so downtime and watch together fit in the
        // switch however slow the engine is; downtime counted through the watch would not.
        #expect(downtime + options.minHealthy <= elapsed, "the watch is not downtime: \(downtime) of \(elapsed)")
        _ = try await engine.docker(["rm", "-f", "gap-a"])
    }
}
