import FerryConcurrency
import FerryCore
import FerryDocker
import FerryFormats
import FerryTestSupport
import Foundation
import Testing

/// ``ContainerSwitch`` against a real dockerd: containers of `app:1.0` recreated from `app:1.1`
/// with their own configuration, a failing HEALTHCHECK put back, a crash mid-switch recovered.
@Suite(
    "Container switch in a real Docker engine", .serialized, .requiresRoot("dockerd"),
    .enabled(if: DockerEngineFixture.isInstalled, "no /usr/sbin/dockerd (run cluster/deps.sh)"), .dockerEngine)
struct ContainerSwitchTests {
    /// A shell loop that stops at once on SIGTERM (busybox `sleep` as PID 1 would ignore it).
    static let loop = "trap 'exit 0' TERM; while true; do sleep 1; done"

    /// Builds `rollout/app:1.0`, `:1.1` (new env and label defaults) and `:bad` (a failing
    /// HEALTHCHECK) in the engine, from a generated busybox image.
    static func images(_ engine: DockerEngineFixture) async throws {
        if try await engine.client.inspectImage("rollout/app:bad") != nil { return }
        let work = try engine.workDirectory("images")
        try await TestImages.generate(at: "\(work)/base.tar", tag: "rollout/base:1", layers: [], busybox: true)
        try await check(engine.docker(["load", "-i", "\(work)/base.tar"]))
        let builds: [(String, String)] = [
            ("1.0", "FROM rollout/base:1\nENV APP_VERSION=1.0 MODE=default\nLABEL app.version=1.0 vendor=acme\nWORKDIR /srv\nCMD [\"/bin/sh\", \"-c\", \"\(loop)\"]\n"),
            ("1.1", "FROM rollout/app:1.0\nENV APP_VERSION=1.1\nLABEL app.version=1.1\n"),
            ("bad", "FROM rollout/app:1.1\nHEALTHCHECK --interval=1s --timeout=1s --retries=1 CMD false\n"),
        ]
        for (tag, dockerfile) in builds {
            let directory = "\(work)/build-\(tag)"
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            try dockerfile.write(toFile: "\(directory)/Dockerfile", atomically: true, encoding: .utf8)
            try await check(engine.docker(["build", "-q", "-t", "rollout/app:\(tag)", directory]))
        }
    }

    static func check(_ result: ProcessResult) throws {
        guard result.succeeded else { throw FerryError(.internal, "docker: \(result.stderr)") }
    }

    /// Starts the test's containers; returns their names.
    static func run(_ engine: DockerEngineFixture, prefix: String, repository: String = "rollout/app") async throws -> [String] {
        let bind = try engine.workDirectory("bind-\(prefix)")
        try await check(engine.docker([
            "run", "-d", "--name", "\(prefix)-web", "-e", "TOKEN=x", "-e", "MODE=custom", "--label", "team=ops",
            "-v", "\(prefix)-data:/data", "-v", "\(bind):/host:ro", "--restart", "unless-stopped", "--network", "none",
            "--memory", "64m", "\(repository):1.0",
        ]))
        try await check(engine.docker([
            "run", "-d", "--name", "\(prefix)-worker", "--network", "none", "--restart", "on-failure:3",
            "\(repository):1.0", "/bin/sh", "-c", "echo override; \(loop)",
        ]))
        return ["\(prefix)-web", "\(prefix)-worker"]
    }

    /// The test images tagged into `repository` too, so that a test switching a whole node
    /// touches only its own containers.
    static func tagged(_ engine: DockerEngineFixture, as repository: String) async throws {
        for tag in ["1.0", "1.1", "bad"] { try await check(engine.docker(["tag", "rollout/app:\(tag)", "\(repository):\(tag)"])) }
    }

    /// The shared engine with the test images, tagged into `repository` too.
    static func engine(taggedAs repository: String) async throws -> DockerEngineFixture {
        let engine = try DockerEngineFixture.shared
        try await images(engine)
        try await tagged(engine, as: repository)
        return engine
    }

    static func options(_ order: ContainerSwitch.Order = .stopFirst, deadline: Duration = .seconds(30)) -> ContainerSwitch.Options {
        .init(order: order, minHealthy: .seconds(1), healthyDeadline: deadline, stopTimeout: .seconds(5), pollInterval: .milliseconds(100))
    }

    /// Container names in the engine (running or not) that start with `prefix`.
    static func names(_ engine: DockerEngineFixture, prefix: String) async throws -> [String] {
        var names: [String] = []
        for id in try await engine.client.listContainers() {
            if let container = try await engine.client.inspectContainer(id), container.name.hasPrefix(prefix) { names.append(container.name) }
        }
        return names.sorted()
    }

    @Test("every container of the repository runs the new image with its own configuration (stop-first and start-first)", arguments: ContainerSwitch.Order.allCases)
    func switchCarriesConfiguration(order: ContainerSwitch.Order) async throws {
        let engine = try DockerEngineFixture.shared
        try await Self.images(engine)
        let prefix = "cfg-\(order == .stopFirst ? "stop" : "start")"
        let names = try await Self.run(engine, prefix: prefix)
        let newImage = try #require(try await engine.client.inspectImage("rollout/app:1.1"))
        let before = try await names.asyncMap { try #require(try await engine.client.inspectContainer($0)) }

        let switcher = ContainerSwitch(client: engine.client, journal: MemorySwitchJournal(), options: Self.options(order))
        let candidates = try await switcher.candidates(repository: try ImageReference(parsing: "rollout/app:1.1"), newImageID: newImage.id)
            .filter { $0.name.hasPrefix(prefix) }
        #expect(candidates.map(\.name) == names)
        for container in candidates {
            let outcome = try await switcher.switchContainer(container, to: "rollout/app:1.1", rollout: "r1")
            #expect(outcome.passed, "\(outcome.failure ?? "")")
            #expect(outcome.downtime != nil)
        }

        #expect(try await Self.names(engine, prefix: prefix) == names)  // no -ferry-old / -ferry-new left
        for old in before {
            let new = try #require(try await engine.client.inspectContainer(old.name))
            #expect(new.id != old.id && new.imageID == newImage.id && new.state.running)
            #expect(new.hostConfig == old.hostConfig)  // restart policy, binds, volumes, network mode, memory
            #expect(new.config["Image"]?.stringValue == "rollout/app:1.1")
            let oldEnv = Set(old.config["Env"]?.stringArray ?? [])
            let newEnv = Set(new.config["Env"]?.stringArray ?? [])
            #expect(newEnv.contains("APP_VERSION=1.1") && !newEnv.contains("APP_VERSION=1.0"))
            #expect(oldEnv.subtracting(["APP_VERSION=1.0"]) == newEnv.subtracting(["APP_VERSION=1.1"]))
            #expect(new.config["Labels"]?["app.version"] == .string("1.1"))
            #expect(new.config["Labels"]?["vendor"] == .string("acme"))
            #expect(new.config["Labels"]?["team"] == old.config["Labels"]?["team"])
            #expect(new.config["Cmd"] == old.config["Cmd"] && new.config["WorkingDir"] == old.config["WorkingDir"])
            let mounts = try await engine.docker(["inspect", "--format", "{{json .Mounts}}", old.name])
            #expect(mounts.stdout.contains("\(prefix)-data") || old.name.hasSuffix("worker"))
        }
        let web = try #require(try await engine.client.inspectContainer("\(prefix)-web"))
        let webEnv: Set<String> = Set(web.config["Env"]?.stringArray ?? [])
        #expect(webEnv.isSuperset(of: ["TOKEN=x", "MODE=custom"]))
        let worker = try #require(try await engine.client.inspectContainer("\(prefix)-worker"))
        #expect(worker.config["Cmd"]?.stringArray == ["/bin/sh", "-c", "echo override; \(Self.loop)"])
        #expect(worker.hostConfig["RestartPolicy"]?["MaximumRetryCount"]?.intValue == 3)
    }

    @Test("a new image failing its HEALTHCHECK is put back: the old container, its image and configuration")
    func failingHealthcheckRestores() async throws {
        let engine = try DockerEngineFixture.shared
        try await Self.images(engine)
        let names = try await Self.run(engine, prefix: "bad")
        let old = try #require(try await engine.client.inspectContainer(names[0]))
        let switcher = ContainerSwitch(client: engine.client, journal: MemorySwitchJournal(), options: Self.options(deadline: .seconds(20)))
        let outcome = try await switcher.switchContainer(old, to: "rollout/app:bad", rollout: "r2")
        #expect(!outcome.passed)
        #expect(outcome.failure?.contains("unhealthy") == true || outcome.failure?.contains("not healthy") == true, "\(outcome.failure ?? "")")
        let after = try #require(try await engine.client.inspectContainer(names[0]))
        #expect(after.id == old.id && after.imageID == old.imageID && after.state.running)
        #expect(after.hostConfig == old.hostConfig && after.config == old.config)
        #expect(try await Self.names(engine, prefix: "bad") == names)
    }

    @Test("a switch interrupted after stopping the old container is undone on recovery: one container of the name runs", arguments: [
        SwitchRecord.Phase.created, .oldStopped, .swapped, .started,
    ])
    func recoveryAfterCrash(phase: SwitchRecord.Phase) async throws {
        let engine = try DockerEngineFixture.shared
        try await Self.images(engine)
        let prefix = "crash-\(phase.rawValue.lowercased())"
        let names = try await Self.run(engine, prefix: prefix)
        let old = try #require(try await engine.client.inspectContainer(names[0]))
        let journal = MemorySwitchJournal(crashAfter: phase)
        let switcher = ContainerSwitch(client: engine.client, journal: journal, options: Self.options())
        await #expect(throws: MemorySwitchJournal.Crash.self) { try await switcher.switchContainer(old, to: "rollout/app:1.1", rollout: "r3") }
        #expect(try await journal.unfinished().count == 1)

        let outcomes = try await switcher.recover()
        #expect(outcomes.map(\.name) == [old.name])
        #expect(try await journal.unfinished().isEmpty)
        #expect(try await Self.names(engine, prefix: prefix) == names)
        let after = try #require(try await engine.client.inspectContainer(old.name))
        #expect(after.id == old.id && after.state.running && after.imageID == old.imageID)
    }
}

extension ContainerSwitchTests {
    @Test("a node switched, then rolled back: each container runs its old image ID with its old configuration")
    func nodeSwitchAndRollback() async throws {
        let engine = try await Self.engine(taggedAs: "node/app")
        let names = try await Self.run(engine, prefix: "node", repository: "node/app")
        let before = try await names.asyncMap { try #require(try await engine.client.inspectContainer($0)) }
        let journal = MemorySwitchJournal()
        let node = NodeRollout(switcher: ContainerSwitch(client: engine.client, journal: journal, options: Self.options()))
        let repository = try ImageReference(parsing: "node/app")
        let switched = await node.switchNode(rollout: "r4", image: "node/app:1.1", repository: repository)
        guard case .passed(let count, let downtime) = switched else {
            Issue.record("switch failed: \(switched)")
            return
        }
        #expect(count == 2 && downtime != nil)
        #expect(await node.switchNode(rollout: "r4b", image: "node/app:1.1", repository: repository) == .noContainers)

        #expect(try await node.rollbackNode(rollout: "r4") == [])
        #expect(try await journal.replacedContainers(rollout: "r4").isEmpty)
        for old in before {
            let after = try #require(try await engine.client.inspectContainer(old.name))
            #expect(after.imageID == old.imageID && after.state.running)
            #expect(after.hostConfig == old.hostConfig)
            let afterEnv: Set<String> = Set(after.config["Env"]?.stringArray ?? [])
            let oldEnv: Set<String> = Set(old.config["Env"]?.stringArray ?? [])
            #expect(afterEnv == oldEnv)
            #expect(after.config["Labels"] == old.config["Labels"] && after.config["Cmd"] == old.config["Cmd"])
            #expect(after.config["Image"]?.stringValue == "node/app:1.0")
        }
        #expect(try await Self.names(engine, prefix: "node") == names)
    }

    @Test("a node whose new image fails its gate is put back whole; an image the engine lacks touches nothing")
    func failingNodeIsPutBack() async throws {
        let engine = try await Self.engine(taggedAs: "fail/app")
        let names = try await Self.run(engine, prefix: "fail", repository: "fail/app")
        let before = try await names.asyncMap { try #require(try await engine.client.inspectContainer($0)) }
        let node = NodeRollout(
            switcher: ContainerSwitch(client: engine.client, journal: MemorySwitchJournal(), options: Self.options(deadline: .seconds(20))))
        let repository = try ImageReference(parsing: "fail/app")
        #expect(await node.switchNode(rollout: "r5", image: "fail/app:absent", repository: repository) == .failed("the image fail/app:absent is not in this node's Docker engine"))
        let result = await node.switchNode(rollout: "r5", image: "fail/app:bad", repository: repository)
        guard case .failed(let reason) = result else {
            Issue.record("expected a failure, got \(result)")
            return
        }
        #expect(reason.contains("healthy"), "\(reason)")
        for old in before {
            let after = try #require(try await engine.client.inspectContainer(old.name))
            #expect(after.imageID == old.imageID && after.state.running && after.hostConfig == old.hostConfig)
        }
    }
}

extension ContainerSwitchTests {
    @Test("an engine error in the middle of a node's switch puts the node back whole: the container already switched returns to its old image")
    func engineErrorPutsTheNodeBack() async throws {
        let engine = try await Self.engine(taggedAs: "engerr/app")
        // engerr-b's bind source disappears once it runs: the engine refuses to create its new
        // container, after engerr-a has been switched.
        let source = try engine.workDirectory("engerr-source")
        try await Self.check(engine.docker(["run", "-d", "--name", "engerr-a", "--network", "none", "engerr/app:1.0"]))
        try await Self.check(engine.docker([
            "run", "-d", "--name", "engerr-b", "--network", "none", "--mount", "type=bind,source=\(source),target=/x", "engerr/app:1.0",
        ]))
        try FileManager.default.removeItem(atPath: source)
        let before = try await ["engerr-a", "engerr-b"].asyncMap { try #require(try await engine.client.inspectContainer($0)) }
        let journal = MemorySwitchJournal()
        let node = NodeRollout(switcher: ContainerSwitch(client: engine.client, journal: journal, options: Self.options()))
        let result = await node.switchNode(rollout: "r8", image: "engerr/app:1.1", repository: try ImageReference(parsing: "engerr/app"))
        guard case .failed(let reason) = result else {
            Issue.record("expected a failure, got \(result)")
            return
        }
        #expect(reason.hasPrefix("engerr-b: ") && reason.contains("bind source path does not exist"), "\(reason)")
        #expect(!reason.contains("putting back the others failed"), "\(reason)")
        // engerr-a was switched, then recreated from its old image; engerr-b was never touched.
        let a = try #require(try await engine.client.inspectContainer("engerr-a"))
        #expect(a.id != before[0].id && a.imageID == before[0].imageID && a.state.running && a.hostConfig == before[0].hostConfig)
        let b = try #require(try await engine.client.inspectContainer("engerr-b"))
        #expect(b.id == before[1].id && b.imageID == before[1].imageID && b.state.running)
        #expect(try await journal.unfinished().isEmpty)
        #expect(try await journal.replacedContainers(rollout: "r8").isEmpty)
        #expect(try await Self.names(engine, prefix: "engerr") == ["engerr-a", "engerr-b"])
        for name in ["engerr-a", "engerr-b"] { try await Self.check(engine.docker(["rm", "-f", name])) }
    }

    @Test("an anonymous volume from --mount type=volume (no source) keeps its data across the switch")
    func anonymousMountKeepsItsData() async throws {
        let engine = try await Self.engine(taggedAs: "mnt/app")
        try await Self.check(engine.docker(["run", "-d", "--name", "mnt-web", "--network", "none", "--mount", "type=volume,target=/scratch", "mnt/app:1.0"]))
        try await Self.check(engine.docker(["exec", "mnt-web", "/bin/sh", "-c", "echo kept > /scratch/state"]))
        let node = NodeRollout(switcher: ContainerSwitch(client: engine.client, journal: MemorySwitchJournal(), options: Self.options()))
        let result = await node.switchNode(rollout: "r9", image: "mnt/app:1.1", repository: try ImageReference(parsing: "mnt/app"))
        guard case .passed = result else {
            Issue.record("switch failed: \(result)")
            return
        }
        let read = try await engine.docker(["exec", "mnt-web", "cat", "/scratch/state"])
        #expect(read.succeeded && read.stdout == "kept\n", "the new container's /scratch: \(read.stdout) \(read.stderr)")
        try await Self.check(engine.docker(["rm", "-f", "-v", "mnt-web"]))
    }

    @Test("a --rm container is refused before anything is touched: the engine would delete it at stop, with no way back")
    func autoRemoveContainerIsLeftAlone() async throws {
        let engine = try await Self.engine(taggedAs: "rm/app")
        try await Self.check(engine.docker(["run", "-d", "--rm", "--name", "rm-web", "--network", "none", "rm/app:1.0"]))
        let before = try #require(try await engine.client.inspectContainer("rm-web"))
        let node = NodeRollout(switcher: ContainerSwitch(client: engine.client, journal: MemorySwitchJournal(), options: Self.options()))
        let result = await node.switchNode(rollout: "r6", image: "rm/app:1.1", repository: try ImageReference(parsing: "rm/app"))
        guard case .failed(let reason) = result else {
            Issue.record("expected a refusal, got \(result)")
            return
        }
        #expect(reason.contains("--rm"), "\(reason)")
        let after = try #require(try await engine.client.inspectContainer("rm-web"))
        #expect(after.id == before.id && after.state.running && after.imageID == before.imageID)
        #expect(try await Self.names(engine, prefix: "rm-") == ["rm-web"])
        try await Self.check(engine.docker(["stop", "-t", "1", "rm-web"]))
    }

    @Test("a switch told to stop during its gate (the follower stopping) puts the old container back at once")
    func interruptedSwitchPutsTheOldOneBack() async throws {
        let engine = try await Self.engine(taggedAs: "stop/app")
        let names = try await Self.run(engine, prefix: "stopping", repository: "stop/app")
        let old = try #require(try await engine.client.inspectContainer(names[0]))
        let stopping = Latch()
        // A gate of 60 s (no HEALTHCHECK: it must run that long) that the stop cuts short.
        let options = ContainerSwitch.Options(
            order: .stopFirst, minHealthy: .seconds(60), healthyDeadline: .seconds(120), stopTimeout: .seconds(5), pollInterval: .milliseconds(100))
        let journal = MemorySwitchJournal()
        let switcher = ContainerSwitch(client: engine.client, journal: journal, options: options, interrupted: { stopping.isSet })
        let switching = Task { try await switcher.switchContainer(old, to: "stop/app:1.1", rollout: "r7") }
        try await waitUntil("the new container in its gate") {
            try await engine.client.inspectContainer(old.name).map { $0.id != old.id && $0.state.running } == true
        }
        stopping.set()
        let outcome = try await switching.value
        #expect(outcome.failure == ContainerSwitch.interruptedReason)
        let after = try #require(try await engine.client.inspectContainer(old.name))
        #expect(after.id == old.id && after.state.running && after.imageID == old.imageID)
        #expect(try await Self.names(engine, prefix: "stopping") == names)
        #expect(try await journal.unfinished().isEmpty)
        // Told to stop before a container is touched: it is left as it is, and a node's switch stops there.
        let untouched = try await switcher.switchContainer(after, to: "stop/app:1.1", rollout: "r7")
        #expect(untouched.failure == ContainerSwitch.interruptedReason && untouched.containerID == old.id)
        let node = await NodeRollout(switcher: switcher).switchNode(rollout: "r7", image: "stop/app:1.1", repository: try ImageReference(parsing: "stop/app"))
        #expect(node == .interrupted(at: names.sorted()[0]), "\(node)")
        let still = try #require(try await engine.client.inspectContainer(old.name))
        #expect(still.id == old.id && still.state.running)
        #expect(try await Self.names(engine, prefix: "stopping") == names)
    }
}

extension Sequence {
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var result: [T] = []
        for element in self { result.append(try await transform(element)) }
        return result
    }
}
