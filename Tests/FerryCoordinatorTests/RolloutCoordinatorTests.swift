import FerryConcurrency
import FerryCore
import FerryMesh
import FerryPolicy
import FerryState
import FerryTestSupport
import Foundation
import Logging
import Synchronization
import Testing

@testable import FerryCoordinator

/// The leader's rollout driver in process, on an in-memory database with a hand-set clock: the
/// install of phase 1 driven by target reports, switch work read as the long poll reads it.
@Suite("RolloutCoordinator", .timeLimit(.minutes(5)))
struct RolloutCoordinatorTests {
    final class Clock: Sendable {
        let milliseconds = Mutex<Int64>(1_000_000)
        let silent = Mutex<Set<String>>([])
        func advance(_ delta: Int64) { milliseconds.withLock { $0 += delta } }
    }

    struct Fixture {
        let database: FerryDatabase
        let installs: InstallCoordinator
        let rollouts: RolloutCoordinator
        let clock: Clock
        let nodes: [String: Int64]

        static func make(nodes count: Int, database: FerryDatabase? = nil, clock: Clock = Clock(), resolutionWait: Duration = .zero) async throws -> Fixture {
            let database = try database ?? FerryDatabase.inMemory()
            var nodes: [String: Int64] = [:]
            for node in try await database.nodes() { nodes[node.name] = node.id! }
            if nodes.isEmpty {
                for index in 1...count {
                    nodes["n\(index)"] = try await database.join(name: "n\(index)", address: nil, platform: "linux/amd64", credentialHash: "h\(index)").id!
                }
            }
            let logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
            let installs = InstallCoordinator(database: database, logger: logger, fetch: { _ in })
            let rollouts = RolloutCoordinator(
                database: database, installs: installs, logger: logger, clock: { clock.milliseconds.withLock { $0 } },
                reachable: { node, _ in !clock.silent.withLock { $0.contains(node.name) } }, resolutionWait: resolutionWait)
            try await rollouts.recover()
            return Fixture(database: database, installs: installs, rollouts: rollouts, clock: clock, nodes: nodes)
        }

        /// Resolves the install's image and takes node `name`'s target to `done` (or `failed`).
        func install(_ name: String, rollout: RolloutStatus, fails: Bool = false) async throws {
            let node = nodes[name]!
            let targets = try await database.targets(ofInstall: rollout.installID!)
            let target = try #require(targets.first { $0.nodeId == node })
            try await resolve(image: target.imageId)
            if fails {
                try await installs.report(node: node, target: target.id!, TargetReport(state: .failed, error: ErrorEntry(code: "X", message: "no room")))
                return
            }
            try await installs.report(node: node, target: target.id!, TargetReport(state: .transferring, starting: true))
            try await installs.report(node: node, target: target.id!, TargetReport(state: .ready))
            #expect(try await installs.requestLoad(node: node, target: target.id!, wait: .zero).granted)
            try await installs.report(node: node, target: target.id!, TargetReport(state: .loading))
            try await installs.report(node: node, target: target.id!, TargetReport(state: .done))
        }

        /// Records a resolution for the image `id` (the upstream answered), unless it has one.
        func resolve(image id: Int64) async throws {
            guard try await database.image(id: id)?.manifestDigest == nil else { return }
            let digest = Digest.sha256(of: Array("m".utf8))
            try await database.recordResolution(
                imageID: id,
                ImageResolution(
                    topDigest: digest, manifestDigest: digest, platform: nil,
                    manifests: [ManifestRecord(digest: digest, mediaType: MediaType.dockerManifest, bytes: [1])],
                    blobs: [Descriptor(mediaType: MediaType.dockerConfig, digest: Digest.sha256(of: Array("c".utf8)), size: 1)]))
        }

        func status(_ id: String) async throws -> RolloutStatus { try #require(try await rollouts.rollout(id: id)) }

        /// Creates a rollout with `plan` over every node, takes the image to each, and lets the
        /// driver hand out the first wave.
        func switching(_ plan: RolloutPlan) async throws -> RolloutStatus {
            let created = try await rollouts.create(RolloutRequest(image: RolloutCoordinatorTests.image, plan: plan))
            for name in nodes.keys.sorted() { try await install(name, rollout: created) }
            await rollouts.step()
            return created
        }

        func statuses(_ id: String) async throws -> [String: RolloutState.NodeStatus] {
            Dictionary(uniqueKeysWithValues: try await status(id).nodes.map { ($0.name, $0.status) })
        }

        func actions(_ name: String) -> [SwitchWorkItem.Action] { rollouts.items(forNode: name).map(\.action) }

        func passed(_ name: String, _ id: String, downtime: Int64 = 120) async throws {
            try await rollouts.report(node: nodes[name]!, rollout: id, SwitchReport(action: .switch, outcome: .passed, containers: 2, downtimeMilliseconds: downtime))
        }
    }

    static let image = "registry.test/team/app:1.1"

    static func cleaningUp(_ plan: RolloutPlan) -> RolloutPlan {
        var plan = plan
        plan.cleanup = true
        return plan
    }

    @Test("--cleanup: a rollout that succeeded tells its nodes to remove the replaced images as they forget it")
    func cleanupAfterSuccess() async throws {
        let fixture = try await Fixture.make(nodes: 1)
        let created = try await fixture.rollouts.create(RolloutRequest(image: Self.image, plan: Self.cleaningUp(RolloutPlan())))
        #expect(try await fixture.rollouts.rollout(id: created.id)?.plan.cleanup == true)
        try await fixture.install("n1", rollout: created)
        await fixture.rollouts.step()
        #expect(fixture.rollouts.items(forNode: "n1").map(\.cleanup) == [nil], "the switch itself removes nothing")
        try await fixture.passed("n1", created.id)
        #expect(try await fixture.status(created.id).phase == .succeeded)
        let forget = try #require(fixture.rollouts.items(forNode: "n1").first)
        #expect(forget.action == .forget && forget.cleanup == true)
        let decoded = try JSONDecoder().decode(SwitchWorkItem.self, from: JSONEncoder().encode(forget))
        #expect(decoded.cleanup == true)
        // A later rollout of the repository under way (n1 away meanwhile, say) may deliver the very
        // image a cleanup would remove: none while it runs.
        let back = try await fixture.rollouts.create(RolloutRequest(image: "registry.test/team/app:1.0", plan: RolloutPlan()))
        let later = try #require(fixture.rollouts.items(forNode: "n1").first { $0.rolloutID == created.id })
        #expect(later.action == .forget && later.cleanup == nil)
        // So may one that replaces another repository's containers with an image of this one.
        _ = try await fixture.rollouts.control(back.id, .abort)
        #expect(try #require(fixture.rollouts.items(forNode: "n1").first { $0.rolloutID == created.id }).cleanup == true)
        _ = try await fixture.rollouts.create(RolloutRequest(image: "registry.test/team/app:1.0", replace: "registry.test/team/app-next"))
        let replacing = try #require(fixture.rollouts.items(forNode: "n1").first { $0.rolloutID == created.id })
        #expect(replacing.action == .forget && replacing.cleanup == nil)
    }

    @Test("abort while a node switches: its switch item becomes a halt (a new key, waking its poll); its report of the stop is taken, then it forgets")
    func abortHaltsASwitchingNode() async throws {
        let fixture = try await Fixture.make(nodes: 2)
        let created = try await fixture.switching(RolloutPlan())
        let switching = try #require(fixture.rollouts.items(forNode: "n1").first)
        #expect(switching.action == .switch && switching.halt == nil && switching.key.hasSuffix(":switch"))
        _ = try await fixture.rollouts.control(created.id, .abort)
        let halt = try #require(fixture.rollouts.items(forNode: "n1").first)
        #expect(halt.action == .switch && halt.halt == true && halt.key == "\(created.id):switch:halt")
        // A follower that does not send halts=1 keeps the plain switch (its poll would spin on a key it cannot make).
        #expect(fixture.rollouts.items(forNode: "n1", halts: false).map(\.key) == ["\(created.id):switch"])
        #expect(fixture.rollouts.items(forNode: "n2").isEmpty, "never handed a switch: nothing to stop or forget")
        try await fixture.rollouts.report(
            node: fixture.nodes["n1"]!, rollout: created.id,
            SwitchReport(action: .switch, outcome: .failed, containers: 1, reason: "stopped by the rollout's abort: 1 switched (web), the others left on their old image"))
        let status = try await fixture.status(created.id)
        let node = try #require(status.nodes.first { $0.name == "n1" })
        #expect(status.phase == .aborted && node.status == .failed && node.reason?.hasPrefix("stopped by the rollout's abort: 1 switched (web)") == true)
        #expect(fixture.actions("n1") == [.forget])
    }

    @Test("distribution first, then waves of --max-parallel, each node's switch through the work poll; forget once it succeeded")
    func wholeRollout() async throws {
        let fixture = try await Fixture.make(nodes: 3)
        let created = try await fixture.rollouts.create(RolloutRequest(image: Self.image, plan: RolloutPlan(maxParallel: 2)))
        #expect(created.id.count == 13 && created.id.hasPrefix("r"))
        #expect(created.phase == .distributing && created.repository == "registry.test/team/app")
        #expect(created.nodes.map(\.name) == ["n1", "n2", "n3"])

        try await fixture.install("n1", rollout: created)
        try await fixture.install("n2", rollout: created)
        await fixture.rollouts.step()
        #expect(fixture.actions("n1").isEmpty, "no container is touched until every node holds the image")
        #expect(try await fixture.statuses(created.id)["n1"] == .distributed)

        try await fixture.install("n3", rollout: created)
        await fixture.rollouts.step()
        #expect(try await fixture.statuses(created.id) == ["n1": .switching, "n2": .switching, "n3": .distributed])
        let work = try await fixture.installs.work(
            node: fixture.nodes["n1"]!, wait: .zero, switches: { fixture.rollouts.items(forNode: "n1") })
        let item = try #require(work.switches?.first)
        #expect(item.action == .switch && item.image == Self.image && item.repository == "registry.test/team/app" && item.order == .stopFirst)

        try await fixture.passed("n1", created.id)
        try await fixture.rollouts.report(node: fixture.nodes["n2"]!, rollout: created.id, SwitchReport(action: .switch, outcome: .noContainers))
        #expect(try await fixture.statuses(created.id)["n3"] == .switching)
        try await fixture.passed("n3", created.id, downtime: 300)
        let done = try await fixture.status(created.id)
        #expect(done.phase == .succeeded && done.isSuccess)
        #expect(done.nodes.first { $0.name == "n3" }?.downtimeMilliseconds == 300)

        // Over: every node that switched forgets the rollout, then it needs nothing more.
        #expect(fixture.actions("n1") == [.forget] && fixture.actions("n2") == [.forget])
        #expect(fixture.rollouts.items(forNode: "n1").first?.cleanup == nil, "no --cleanup: the old images stay")
        for name in ["n1", "n2", "n3"] {
            try await fixture.rollouts.report(node: fixture.nodes[name]!, rollout: created.id, SwitchReport(action: .forget, outcome: .forgotten))
        }
        await fixture.rollouts.step()
        #expect(fixture.actions("n1").isEmpty)
    }

    @Test("a switch report no switch can produce (a huge or negative downtime, a negative count, a huge reason) is refused; it once stopped the leader in its metrics")
    func absurdSwitchReportsAreRefused() async throws {
        let fixture = try await Fixture.make(nodes: 1)
        let created = try await fixture.rollouts.create(RolloutRequest(image: Self.image))
        try await fixture.install("n1", rollout: created)
        await fixture.rollouts.step()
        #expect(try await fixture.statuses(created.id)["n1"] == .switching)
        let node = fixture.nodes["n1"]!
        for report in [
            SwitchReport(action: .switch, outcome: .passed, containers: 1, downtimeMilliseconds: Int64.min),
            SwitchReport(action: .switch, outcome: .passed, containers: 1, downtimeMilliseconds: Int64.max),
            SwitchReport(action: .switch, outcome: .passed, containers: -1),
        ] {
            await expectError(.invalidArgument) { try await fixture.rollouts.report(node: node, rollout: created.id, report) }
        }
        #expect(try await fixture.statuses(created.id)["n1"] == .switching, "nothing applied")
        // A long reason (every container's error joined) is real: cut, not refused.
        let long = (1...60).map { "c\($0): the Docker engine refused starting container \(String(repeating: "f", count: 64)): transport is closing" }
        try await fixture.rollouts.report(node: node, rollout: created.id, SwitchReport(action: .switch, outcome: .failed, reason: long.joined(separator: "; ")))
        let failed = try #require(try await fixture.status(created.id).nodes.first { $0.name == "n1" })
        #expect(failed.status == .failed && (failed.reason?.utf8.count ?? 0) <= SwitchReport.maxReasonLength && failed.reason?.hasPrefix("c1: ") == true)
        // A repeat with an absurd downtime is refused too (a repeat is otherwise accepted).
        await expectError(.invalidArgument) {
            try await fixture.rollouts.report(node: node, rollout: created.id, SwitchReport(action: .switch, outcome: .failed, containers: 2, downtimeMilliseconds: -5))
        }
    }

    @Test("the work long poll wakes when a node's switch work appears")
    func longPollWakes() async throws {
        let fixture = try await Fixture.make(nodes: 1)
        let created = try await fixture.rollouts.create(RolloutRequest(image: Self.image))
        try await fixture.install("n1", rollout: created)
        let poll = Task {
            try await fixture.installs.work(
                node: fixture.nodes["n1"]!, wait: .seconds(50), known: [], switches: { fixture.rollouts.items(forNode: "n1") })
        }
        try await waitFor { fixture.database.changes.waiterCount >= 1 }
        await fixture.rollouts.step()
        let work = try await poll.value
        #expect(work.switches?.map(\.key) == ["\(created.id):switch"])
        // Asked again with that key known, the poll waits (it answers empty-handed at the deadline).
        let again = try await fixture.installs.work(
            node: fixture.nodes["n1"]!, wait: .milliseconds(50), knownSwitches: ["\(created.id):switch"],
            switches: { fixture.rollouts.items(forNode: "n1") })
        #expect(again.switches?.count == 1)
    }

    @Test("reports: a repeat is accepted, an unexpected one is a conflict, an unknown rollout is not found")
    func reports() async throws {
        let fixture = try await Fixture.make(nodes: 2)
        let created = try await fixture.switching(RolloutPlan(maxFailureRatio: 1))
        let n1 = fixture.nodes["n1"]!
        let n2 = fixture.nodes["n2"]!
        await expectError(.conflict) {
            try await fixture.rollouts.report(node: n2, rollout: created.id, SwitchReport(action: .switch, outcome: .passed))
        }
        await expectError(.conflict) {
            try await fixture.rollouts.report(node: n1, rollout: created.id, SwitchReport(action: .switch, outcome: .forgotten))
        }
        await expectError(.notFound) {
            try await fixture.rollouts.report(node: n1, rollout: "r000000000000", SwitchReport(action: .switch, outcome: .passed))
        }
        try await fixture.rollouts.report(node: n1, rollout: created.id, SwitchReport(action: .switch, outcome: .failed, reason: "web: unhealthy"))
        try await fixture.rollouts.report(node: n1, rollout: created.id, SwitchReport(action: .switch, outcome: .failed, reason: "web: unhealthy"))
        let status = try await fixture.status(created.id)
        #expect(status.nodes.first?.status == .failed && status.nodes.first?.reason == "web: unhealthy")
        #expect(try await fixture.statuses(created.id)["n2"] == .switching, "ratio 1 goes on")
    }

    @Test("a failed canary pauses the rollout, no other node is touched; rollback restores the switched nodes, then they forget")
    func canaryFailsThenRollback() async throws {
        let fixture = try await Fixture.make(nodes: 3)
        let created = try await fixture.rollouts.create(RolloutRequest(image: Self.image, plan: Self.cleaningUp(RolloutPlan(canary: 1))))
        for name in ["n1", "n2", "n3"] { try await fixture.install(name, rollout: created) }
        await fixture.rollouts.step()
        #expect(try await fixture.statuses(created.id) == ["n1": .switching, "n2": .distributed, "n3": .distributed])
        try await fixture.passed("n1", created.id)
        // Manual canary wait: paused until resume.
        #expect(try await fixture.status(created.id).phase == .paused)
        _ = try await fixture.rollouts.control(created.id, .resume)
        #expect(try await fixture.statuses(created.id)["n2"] == .switching)
        try await fixture.rollouts.report(node: fixture.nodes["n2"]!, rollout: created.id, SwitchReport(action: .switch, outcome: .failed, reason: "unhealthy"))
        let paused = try await fixture.status(created.id)
        #expect(paused.phase == .paused && paused.nodes[2].status == .distributed)

        let rolling = try await fixture.rollouts.control(created.id, .rollback)
        #expect(rolling.phase == .rollingBack)
        await expectError(.conflict) { _ = try await fixture.rollouts.control(created.id, .resume) }
        #expect(fixture.actions("n1") == [.restore] && fixture.actions("n3").isEmpty)
        try await fixture.rollouts.report(node: fixture.nodes["n1"]!, rollout: created.id, SwitchReport(action: .restore, outcome: .restored, containers: 2))
        #expect(try await fixture.status(created.id).phase == .rolledBack)
        #expect(fixture.actions("n1") == [.forget] && fixture.actions("n2") == [.forget])
        #expect(fixture.rollouts.items(forNode: "n1").first?.cleanup == nil, "--cleanup acts only after success: rolled back, the replaced images are in use again")
        await expectError(.conflict) { _ = try await fixture.rollouts.control(created.id, .rollback) }
    }

    @Test("a node that stops answering during its switch is counted failed past its deadline, and told to restore when it returns")
    func silentNode() async throws {
        let fixture = try await Fixture.make(nodes: 2)
        let created = try await fixture.switching(RolloutPlan(maxParallel: 2, healthyDeadlineMilliseconds: 60_000, maxFailureRatio: 1))
        fixture.clock.silent.withLock { $0 = ["n2"] }
        fixture.clock.advance(60_000)
        await fixture.rollouts.step()
        #expect(try await fixture.statuses(created.id)["n2"] == .switching, "within the margin")
        fixture.clock.advance(RolloutRecord.silenceMargin)
        await fixture.rollouts.step()
        #expect(try await fixture.statuses(created.id)["n2"] == .failed)
        #expect(fixture.actions("n2") == [.restore])
        try await fixture.passed("n1", created.id)
        #expect(try await fixture.status(created.id).phase == .failed)
        try await fixture.rollouts.report(node: fixture.nodes["n2"]!, rollout: created.id, SwitchReport(action: .restore, outcome: .restored))
        #expect(fixture.actions("n2").isEmpty, "a failed rollout may still be rolled back: nothing is forgotten")
    }

    /// An audit killed the leader while a node's new container was in its gate and started it
    /// again a minute later: the node had passed meanwhile (its report waiting for the leader),
    /// yet the leader, reading the node's last heartbeat from before its own downtime, counted it
    /// silent at once and had it put the old container back.
    @Test("a leader down longer than the silence deadline gives a switching node the whole deadline again from its start")
    func leaderDowntimeIsNotTheNodesSilence() async throws {
        let clock = Clock()
        let first = try await Fixture.make(nodes: 1, clock: clock)
        let created = try await first.rollouts.create(
            RolloutRequest(image: Self.image, plan: RolloutPlan(maxParallel: 1, healthyDeadlineMilliseconds: 14_000, maxFailureRatio: 1)))
        try await first.install("n1", rollout: created)
        await first.rollouts.step()
        #expect(try await first.statuses(created.id)["n1"] == .switching)
        // The leader is down for a minute: nobody's heartbeat reached it meanwhile.
        clock.advance(60_000)
        clock.silent.withLock { $0 = ["n1"] }
        let second = try await Fixture.make(nodes: 1, database: first.database, clock: clock)
        await second.rollouts.step()
        #expect(try await second.statuses(created.id)["n1"] == .switching, "counted silent for the leader's own downtime")
        clock.advance(14_000 + RolloutRecord.silenceMargin - 1)
        await second.rollouts.step()
        #expect(try await second.statuses(created.id)["n1"] == .switching)
        // The node's held report arrives: the switch passed.
        try await second.passed("n1", created.id)
        #expect(try await second.status(created.id).phase == .succeeded)
        #expect(second.actions("n1") == [.forget])

        // A node that stays silent is still failed, a deadline after the leader's start.
        let third = try await Fixture.make(nodes: 1, clock: clock)
        let other = try await third.rollouts.create(
            RolloutRequest(image: Self.image, plan: RolloutPlan(maxParallel: 1, healthyDeadlineMilliseconds: 14_000, maxFailureRatio: 1)))
        clock.silent.withLock { $0 = [] }
        try await third.install("n1", rollout: other)
        await third.rollouts.step()
        clock.silent.withLock { $0 = ["n1"] }
        clock.advance(14_000 + RolloutRecord.silenceMargin)
        await third.rollouts.step()
        #expect(try await third.statuses(other.id)["n1"] == .failed)
    }

    /// A review found a second rollback hung: the node's new restore report, the same outcome as
    /// the first one's, was taken for a repeat and dropped.
    @Test("a rollback whose restore failed ends failed; a second rollback restores the node, even with the same outcome first")
    func secondRollbackAfterAFailedRestore() async throws {
        let fixture = try await Fixture.make(nodes: 2)
        let created = try await fixture.switching(RolloutPlan(maxParallel: 2))
        try await fixture.passed("n1", created.id)
        try await fixture.rollouts.report(node: fixture.nodes["n2"]!, rollout: created.id, SwitchReport(action: .switch, outcome: .failed, reason: "unhealthy"))
        #expect(try await fixture.status(created.id).phase == .paused)
        _ = try await fixture.rollouts.control(created.id, .rollback)
        let node = fixture.nodes["n1"]!
        try await fixture.rollouts.report(node: node, rollout: created.id, SwitchReport(action: .restore, outcome: .failed, reason: "engine restarting"))
        var status = try await fixture.status(created.id)
        #expect(status.phase == .failed && status.nodes.first { $0.name == "n1" }?.status == .switched, "\(status.phase) \(status.nodes)")
        _ = try await fixture.rollouts.control(created.id, .rollback)
        #expect(fixture.actions("n1") == [.restore])
        try await fixture.rollouts.report(node: node, rollout: created.id, SwitchReport(action: .restore, outcome: .failed, reason: "engine restarting"))
        #expect(try await fixture.status(created.id).phase == .failed, "the same outcome again is a new report")
        _ = try await fixture.rollouts.control(created.id, .rollback)
        try await fixture.rollouts.report(node: node, rollout: created.id, SwitchReport(action: .restore, outcome: .restored))
        status = try await fixture.status(created.id)
        #expect(status.phase == .rolledBack && status.nodes.first { $0.name == "n1" }?.status == .restored)
    }

    /// An audit saw `distributing 0 B/0 B` for a node whose follower was down, with no word why.
    @Test("a node the rollout waits on that is not heard from says so in its status")
    func silentNodeIsShown() async throws {
        let fixture = try await Fixture.make(nodes: 2)
        let created = try await fixture.rollouts.create(RolloutRequest(image: Self.image))
        fixture.clock.silent.withLock { $0 = ["n2"] }
        let status = try await fixture.status(created.id)
        let n2 = try #require(status.nodes.first { $0.name == "n2" })
        #expect(n2.status == .distributing)
        #expect(n2.reason?.hasPrefix("node unreachable (last heard ") == true && n2.reason?.contains("waits for it") == true, "\(n2.reason ?? "nil")")
        #expect(status.nodes.first { $0.name == "n1" }?.reason == nil)
    }

    @Test("a restarted leader resumes: the waiting rollout's switch work and its wake-up come back from the database")
    func resumesAfterRestart() async throws {
        let clock = Clock()
        let first = try await Fixture.make(nodes: 2, clock: clock)
        let created = try await first.rollouts.create(RolloutRequest(image: Self.image, plan: RolloutPlan(delayMilliseconds: 5_000)))
        for name in ["n1", "n2"] { try await first.install(name, rollout: created) }
        await first.rollouts.step()
        try await first.passed("n1", created.id)
        #expect(try await first.status(created.id).phase == .waiting)

        let second = try await Fixture.make(nodes: 2, database: first.database, clock: clock)
        clock.advance(5_000)
        await second.rollouts.step()
        #expect(second.actions("n2") == [.switch])
        try await second.passed("n2", created.id)
        #expect(try await second.status(created.id).phase == .succeeded)
    }

    @Test("an image the nodes cannot get: no node is switched, the failure policy pauses")
    func distributionFails() async throws {
        let fixture = try await Fixture.make(nodes: 2)
        let created = try await fixture.rollouts.create(RolloutRequest(image: Self.image))
        try await fixture.install("n1", rollout: created, fails: true)
        try await fixture.install("n2", rollout: created)
        await fixture.rollouts.step()
        let status = try await fixture.status(created.id)
        #expect(status.phase == .paused && status.nodes[0].status == .failed && status.nodes[1].status == .distributed)
        #expect(fixture.actions("n2").isEmpty)
    }

    @Test("a failed rollout is not rolled back over a later rollout of its repository that switched or may switch, and abort closes it")
    func failedRolloutAfterANewerOne() async throws {
        func failedRollout(_ fixture: Fixture) async throws -> RolloutStatus {
            let first = try await fixture.rollouts.create(RolloutRequest(image: Self.image, plan: RolloutPlan(maxFailureRatio: 1)))
            try await fixture.install("n1", rollout: first)
            await fixture.rollouts.step()
            try await fixture.rollouts.report(
                node: fixture.nodes["n1"]!, rollout: first.id, SwitchReport(action: .switch, outcome: .failed, reason: "engine"))
            #expect(try await fixture.status(first.id).phase == .failed)
            return first
        }
        let fixture = try await Fixture.make(nodes: 1)
        let first = try await failedRollout(fixture)
        let second = try await fixture.rollouts.create(RolloutRequest(image: "registry.test/team/app:1.2"))
        await expectError(.conflict, mentioning: "rollout \(second.id) of") { _ = try await fixture.rollouts.control(first.id, .rollback) }
        #expect(try await fixture.status(first.id).phase == .failed, "nothing changed")
        // The later one aborted before it switched a node: it left the containers as they were.
        _ = try await fixture.rollouts.control(second.id, .abort)
        let rolling = try await fixture.rollouts.control(first.id, .rollback)
        #expect([.rollingBack, .rolledBack].contains(rolling.phase))

        let other = try await Fixture.make(nodes: 1)
        let failed = try await failedRollout(other)
        let closed = try await other.rollouts.control(failed.id, .abort)
        #expect(closed.phase == .aborted)
    }

    @Test("one rollout per repository at a time: a second is refused until the first is over; other repositories go on")
    func oneRolloutPerRepository() async throws {
        let fixture = try await Fixture.make(nodes: 1)
        let first = try await fixture.rollouts.create(RolloutRequest(image: Self.image))
        await expectError(.conflict, mentioning: "ferry rollout abort \(first.id)") {
            _ = try await fixture.rollouts.create(RolloutRequest(image: "registry.test/team/app:1.2"))
        }
        // The same containers through --replace, named another way, are the same repository.
        await expectError(.conflict) {
            _ = try await fixture.rollouts.create(RolloutRequest(image: "registry.test/team/app-next:2.0", replace: "registry.test/team/app"))
        }
        // A mistyped node is named as such, not hidden behind the busy repository.
        await expectError(.nodeUnknown, mentioning: "unknown node 'n9'") {
            _ = try await fixture.rollouts.create(RolloutRequest(image: "registry.test/team/app:1.2", nodes: ["n9"]))
        }
        // Another repository is not held up.
        _ = try await fixture.rollouts.create(RolloutRequest(image: "registry.test/team/other:1.0"))
        _ = try await fixture.rollouts.control(first.id, .abort)
        let second = try await fixture.rollouts.create(RolloutRequest(image: "registry.test/team/app:1.2"))
        #expect(second.id != first.id)
        #expect(try await fixture.rollouts.rollouts().rollouts.count == 3)
    }

    /// A review found a rollout with --replace held only the replaced repository: a rollout of
    /// its image's repository switched its containers meanwhile, and rolling the first one back
    /// then undid that one too.
    @Test("a rollout with --replace holds its image's repository too: a rollout of it waits, and rolling the first back over it is refused")
    func replaceHoldsTheImagesRepository() async throws {
        let fixture = try await Fixture.make(nodes: 1)
        let first = try await fixture.rollouts.create(
            RolloutRequest(image: "registry.test/team/app-next:1.0", replace: "registry.test/team/app", plan: RolloutPlan(maxFailureRatio: 1)))
        await expectError(.conflict, mentioning: "ferry rollout abort \(first.id)") {
            _ = try await fixture.rollouts.create(RolloutRequest(image: "registry.test/team/app-next:2.0"))
        }
        try await fixture.install("n1", rollout: first)
        await fixture.rollouts.step()
        try await fixture.rollouts.report(node: fixture.nodes["n1"]!, rollout: first.id, SwitchReport(action: .switch, outcome: .failed, reason: "engine"))
        #expect(try await fixture.status(first.id).phase == .failed)
        let second = try await fixture.rollouts.create(RolloutRequest(image: "registry.test/team/app-next:2.0"))
        await expectError(.conflict, mentioning: "rollout \(second.id) of") { _ = try await fixture.rollouts.control(first.id, .rollback) }
        #expect(try await fixture.status(first.id).phase == .failed, "nothing changed")

        // A later rollout, over, that replaced none of its repositories' containers (another's,
        // into the same image) does not hold a rollback up.
        let other = try await Fixture.make(nodes: 1)
        let plain = try await other.rollouts.create(RolloutRequest(image: "registry.test/team/app:2.0", plan: RolloutPlan(maxFailureRatio: 1)))
        try await other.install("n1", rollout: plain)
        await other.rollouts.step()
        try await other.rollouts.report(node: other.nodes["n1"]!, rollout: plain.id, SwitchReport(action: .switch, outcome: .failed, reason: "engine"))
        let legacy = try await other.rollouts.create(RolloutRequest(image: "registry.test/team/app:2.0", replace: "registry.test/team/legacy"))
        try await other.install("n1", rollout: legacy)
        await other.rollouts.step()
        try await other.passed("n1", legacy.id)
        #expect(try await other.status(legacy.id).phase == .succeeded)
        let rolling = try await other.rollouts.control(plain.id, .rollback)
        #expect([.rollingBack, .rolledBack].contains(rolling.phase))
    }

    @Test("a rollout whose image is still resolving holds its repository but not the others: another repository's rollout is created meanwhile")
    func resolvingRolloutHoldsOnlyItsRepository() async throws {
        // The first one's wait outlasts any load on the machine (a CI run took 64 s to come to
        // the check with 20 s): the test resolves its image itself, so the wait never runs out.
        let fixture = try await Fixture.make(nodes: 1, resolutionWait: .seconds(600))
        let finished = Mutex(false)
        let first = Task {
            defer { finished.withLock { $0 = true } }
            return try await fixture.rollouts.create(RolloutRequest(image: Self.image))
        }
        try await waitUntil("the first rollout waiting for its image") {
            fixture.rollouts.reserved.withLock { $0.contains("registry.test/team/app") }
        }
        await expectError(.conflict, mentioning: "is being created") {
            _ = try await fixture.rollouts.create(RolloutRequest(image: "registry.test/team/app:1.2"))
        }
        // Another repository is not held up by the first one's wait (the code before 2026-12-06
        // made it wait for the first one's image first).
        let other = Task { try await fixture.rollouts.create(RolloutRequest(image: "registry.test/team/other:1.0")) }
        try await waitUntil("the second rollout waiting for its own image") {
            fixture.rollouts.reserved.withLock { $0.contains("registry.test/team/other") }
        }
        let installs = try await fixture.database.installs().compactMap(\.id).sorted()
        #expect(installs.count == 2)
        for target in try await fixture.database.targets(ofInstall: installs[1]) { try await fixture.resolve(image: target.imageId) }
        _ = try await other.value
        #expect(!finished.withLock { $0 }, "the other repository's rollout waited for the first one's image")
        // The first one's image resolves: it is created, and holds its repository as a rollout.
        for target in try await fixture.database.targets(ofInstall: installs[0]) { try await fixture.resolve(image: target.imageId) }
        let created = try await first.value
        #expect(fixture.rollouts.reserved.withLock { $0.isEmpty })
        await expectError(.conflict, mentioning: "ferry rollout abort \(created.id)") {
            _ = try await fixture.rollouts.create(RolloutRequest(image: "registry.test/team/app:1.2"))
        }
    }

    @Test("an image without a written tag (or with a digest) is refused before anything starts: an untagged name would roll out :latest")
    func untaggedImageIsRefused() async throws {
        let fixture = try await Fixture.make(nodes: 1)
        for image in ["registry.test/team/app", "registry.test:5000/team/app", "registry.test/team/app@sha256:" + String(repeating: "a", count: 64)] {
            await expectError(.invalidArgument, mentioning: "a rollout needs a tagged image") {
                _ = try await fixture.rollouts.create(RolloutRequest(image: image))
            }
        }
        #expect(try await fixture.rollouts.rollouts().rollouts.isEmpty, "nothing created, no repository held")
        _ = try await fixture.rollouts.create(RolloutRequest(image: "registry.test:5000/team/app:latest"))
    }

    @Test("a rollout over but with a node still to put containers back holds its repository while that node is in the cluster")
    func aLateRestoreHoldsTheRepositoryWhileItsNodeIsKnown() throws {
        var state = RolloutState(id: "r1", image: Self.image, plan: RolloutPlan(), nodes: ["n1", "n3"])
        _ = state.start()
        _ = try state.abort()
        #expect(state.phase.isFinal)
        let now = Date()
        var record = RolloutRecord(state: state, registry: "registry.test", repository: "team/app", installID: nil, createdAt: now, updatedAt: now)
        #expect(record.holdsRepository(known: ["n1", "n3"]) == nil, "over, nothing left to put back")
        record.lateRestores = ["n3"]
        let held = try #require(record.holdsRepository(known: ["n1", "n3"]))
        #expect(held.contains("n3") && held.contains("ferry nodes remove"), "\(held)")
        #expect(record.holdsRepository(known: ["n1"]) == nil, "a node removed from the cluster holds nothing")
    }

    /// A node counted silent during its restore came back and reported the restore failed: the
    /// rollout stayed `rolledBack` and the node was told to forget it, on the new image.
    @Test("a late restore that fails makes a rolled-back rollout failed: the node is not told to forget, a rollback hands it its restore again")
    func lateRestoreFailureKeepsTheRollback() throws {
        var state = RolloutState(id: "r1", image: Self.image, plan: RolloutPlan(maxParallel: 2), nodes: ["n1", "n2"])
        _ = state.start()
        for name in ["n1", "n2"] { _ = state.distributed(name, now: 0) }
        for name in ["n1", "n2"] { _ = state.switched(name, .passed(containers: 1, downtimeMilliseconds: nil), now: 1) }
        let now = Date()
        var record = RolloutRecord(state: state, registry: "registry.test", repository: "team/app", installID: nil, createdAt: now, updatedAt: now)
        record.switchStarted = ["n1": 1, "n2": 1]
        record.started(try record.state.rollback(), now: 2)
        _ = try record.apply(SwitchReport(action: .restore, outcome: .restored), from: "n1", now: 3)
        #expect(record.failSilent(now: 1_000_000, reachable: { _ in false }) == [.finished(.rolledBack)])
        #expect(record.pendingForgets == ["n1"], "n2 owes its restore first")
        #expect(record.items(for: "n2").map(\.action) == [.restore])

        #expect(try record.apply(SwitchReport(action: .restore, outcome: .failed, reason: "engine down"), from: "n2", now: 1_000_001) == [.finished(.failed)])
        #expect(record.state.phase == .failed && record.pendingForgets.isEmpty, "nobody is told to forget a rollout that may be rolled back")
        #expect(record.state.node("n2")?.status == .switched)
        record.started(try record.state.rollback(), now: 1_000_002)
        #expect(record.items(for: "n2").map(\.action) == [.restore], "the second rollback's restore is a new one")
        #expect(try record.apply(SwitchReport(action: .restore, outcome: .restored), from: "n2", now: 1_000_003) == [.finished(.rolledBack)])
    }

    /// A repeated report, or a late `passed` from a node counted failed while silent, was counted
    /// in `ferry_rollout_node_switches_total` again.
    @Test("only the report that decides a node's switch counts in the switch metrics")
    func onlyDecidingReportsCount() throws {
        var state = RolloutState(id: "r1", image: Self.image, plan: RolloutPlan(maxParallel: 2, onFailure: .continue), nodes: ["n1", "n2"])
        _ = state.start()
        let actions = ["n1", "n2"].flatMap { state.distributed($0, now: 0) }
        let now = Date()
        var record = RolloutRecord(state: state, registry: "registry.test", repository: "team/app", installID: nil, createdAt: now, updatedAt: now)
        record.started(actions, now: 0)
        #expect(record.state.nodes.map(\.status) == [.switching, .switching])
        func decides(_ report: SwitchReport, _ name: String) throws -> Bool {
            let was = record.state.node(name)?.status == .switching
            _ = try record.apply(report, from: name, now: 1)
            return RolloutRecord.decidesSwitch(report, wasSwitching: was, now: record.state.node(name)?.status)
        }
        let pass = SwitchReport(action: .switch, outcome: .passed, containers: 1)
        #expect(try decides(pass, "n1"))
        #expect(try !decides(pass, "n1"), "a repeat")
        _ = record.failSilent(now: 1_000_000, reachable: { $0 != "n2" })
        #expect(record.state.node("n2")?.status == .failed)
        #expect(try !decides(pass, "n2"), "late, after the node was counted failed")
    }

    /// An audit removed a node (`ferry nodes remove --force`) during a rollout: while the image
    /// was being distributed the rollout stayed `distributing` for ever (its target was renamed
    /// with the node, so the driver never matched it); during the switches, the next wave handed
    /// the removed node its switch, which it carried out, and the rollout paused on its silence.
    @Test("a node removed from the cluster leaves every rollout: distribution no longer waits on it, no later wave names it")
    func removedNodeLeavesTheRollout() async throws {
        let fixture = try await Fixture.make(nodes: 3)
        let created = try await fixture.rollouts.create(RolloutRequest(image: Self.image, plan: RolloutPlan(maxParallel: 1, maxFailureRatio: 1)))
        try await fixture.install("n1", rollout: created)
        try await fixture.install("n2", rollout: created)
        await fixture.rollouts.step()
        #expect(try await fixture.statuses(created.id)["n3"] == .distributing)
        // Removed with the rollouts not told (the leader stopped in between): the driver's next
        // step leaves it out all the same.
        _ = try await fixture.database.removeNode(named: "n3", force: true, reachableWithin: .seconds(5))
        await fixture.rollouts.step()
        await fixture.rollouts.step()
        var status = try await fixture.status(created.id)
        #expect(status.phase == .switching, "distribution waits no longer")
        #expect(status.nodes.first { $0.name == "n3" }?.reason == "node removed from the cluster")
        #expect(try await fixture.statuses(created.id)["n1"] == .switching)

        // n2 waits for the next wave: removed now, it is handed nothing, and the rollout ends.
        _ = try await fixture.database.removeNode(named: "n2", force: true, reachableWithin: .seconds(5))
        try await fixture.rollouts.nodeRemoved("n2")
        try await fixture.passed("n1", created.id)
        status = try await fixture.status(created.id)
        #expect(fixture.actions("n2").isEmpty && fixture.actions("n3").isEmpty)
        #expect(status.phase == .failed, "\(status.phase)")
        #expect(try await fixture.statuses(created.id) == ["n1": .switched, "n2": .failed, "n3": .failed])
    }

    /// A review found a `failed` rollout, no longer in memory, never heard of a removal: a later
    /// rollback handed the removed node (or a new node under its name) a restore.
    @Test("a failed rollout hears of a removal too: its rollback leaves the removed node out")
    func failedRolloutLeavesOutARemovedNode() async throws {
        let fixture = try await Fixture.make(nodes: 2)
        let created = try await fixture.switching(RolloutPlan(maxParallel: 2, maxFailureRatio: 1))
        try await fixture.passed("n1", created.id)
        try await fixture.rollouts.report(node: fixture.nodes["n2"]!, rollout: created.id, SwitchReport(action: .switch, outcome: .failed, reason: "unhealthy"))
        await fixture.rollouts.step()
        #expect(try await fixture.status(created.id).phase == .failed)
        #expect(fixture.rollouts.active.withLock { $0[created.id] } == nil, "nothing left to do: not in memory")
        _ = try await fixture.database.removeNode(named: "n1", force: true, reachableWithin: .seconds(5))
        try await fixture.rollouts.nodeRemoved("n1")
        let rolledBack = try await fixture.rollouts.control(created.id, .rollback)
        #expect(rolledBack.phase == .rolledBack, "nobody to put back: \(rolledBack.phase)")
        #expect(fixture.actions("n1").isEmpty)
    }

    @Test("bad requests name what is wrong and create nothing")
    func badRequests() async throws {
        let fixture = try await Fixture.make(nodes: 1)
        await expectError(.invalidArgument, mentioning: "--max-failure-ratio") {
            _ = try await fixture.rollouts.create(RolloutRequest(image: Self.image, plan: RolloutPlan(maxFailureRatio: 1.5)))
        }
        await expectError(.invalidArgument, mentioning: "--healthy-deadline") {
            _ = try await fixture.rollouts.create(RolloutRequest(image: Self.image, plan: RolloutPlan(healthyDeadlineMilliseconds: 0)))
        }
        await expectError(.invalidArgument, mentioning: "tag") {
            _ = try await fixture.rollouts.create(RolloutRequest(image: "registry.test/team/app@sha256:" + String(repeating: "a", count: 64)))
        }
        await expectError(.invalidArgument, mentioning: "--replace") {
            _ = try await fixture.rollouts.create(RolloutRequest(image: Self.image, replace: "registry.test/team/app:1.0"))
        }
        await expectError(.nodeUnknown) { _ = try await fixture.rollouts.create(RolloutRequest(image: Self.image, nodes: ["nope"])) }
        await expectError(.invalidArgument, mentioning: "--canary 2 is more than the 1 target node") {
            _ = try await fixture.rollouts.create(RolloutRequest(image: Self.image, plan: RolloutPlan(canary: 2)))
        }
        await expectError(.notFound) { _ = try await fixture.rollouts.control("r000000000000", .pause) }
        #expect(try await fixture.rollouts.rollouts().rollouts.isEmpty)
        #expect(try await fixture.database.installs().isEmpty)
    }

    @Test("a plan decodes with defaults for the keys left out")
    func planDefaults() throws {
        let plan = try JSONDecoder().decode(RolloutPlan.self, from: Data(#"{"maxParallel":3,"order":"start-first"}"#.utf8))
        var expected = RolloutPlan(maxParallel: 3)
        expected.order = .startFirst
        #expect(plan == expected)
        #expect(plan.distributeDeadlineMilliseconds == nil, "a plan stored before --distribute-deadline waits for every node")
    }

    @Test("--distribute-deadline is the rollout's install deadline: a node the image has not reached by then counts failed")
    func distributeDeadline() async throws {
        let fixture = try await Fixture.make(nodes: 1)
        var plan = RolloutPlan()
        plan.distributeDeadlineMilliseconds = 1_800_500
        let before = Date()
        let created = try await fixture.rollouts.create(RolloutRequest(image: Self.image, plan: plan))
        let after = Date()
        let install = try #require(try await fixture.database.installs().first)
        let deadline = try #require(install.deadlineAt)
        // 1801 s (rounded up to whole seconds) after the rollout was created, whenever that was
        // between before and after (a loaded machine took over 9 s).
        #expect(deadline.timeIntervalSince(before) >= 1800.99 && deadline.timeIntervalSince(after) <= 1801.01, "rounded up to whole seconds")
        _ = try await fixture.rollouts.control(created.id, .abort)
        plan.distributeDeadlineMilliseconds = 500
        await expectError(.invalidArgument, mentioning: "--distribute-deadline") {
            _ = try await fixture.rollouts.create(RolloutRequest(image: Self.image, plan: plan))
        }
    }
}

/// Expects `body` to throw a ``FerryError`` with `code` (and a message mentioning `text`).
func expectError(
    _ code: FerryError.Code, mentioning text: String? = nil, sourceLocation: SourceLocation = #_sourceLocation, _ body: () async throws -> Void
) async {
    do {
        try await body()
        Issue.record("expected \(code), nothing was thrown", sourceLocation: sourceLocation)
    } catch let error as FerryError {
        #expect(error.code == code, "\(error.message)", sourceLocation: sourceLocation)
        if let text { #expect(error.message.contains(text), "\(error.message)", sourceLocation: sourceLocation) }
    } catch {
        Issue.record("expected \(code), got \(error)", sourceLocation: sourceLocation)
    }
}
