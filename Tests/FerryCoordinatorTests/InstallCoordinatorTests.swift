import FerryConcurrency
import FerryCore
import FerryMesh
import FerryState
import FerryTestSupport
import Foundation
import Logging
import Synchronization
import Testing

@testable import FerryCoordinator

/// The leader's install coordination in process, on an in-memory database: no network, no nodes.
@Suite("InstallCoordinator", .timeLimit(.minutes(5)))
struct InstallCoordinatorTests {
    struct Fixture {
        let database: FerryDatabase
        let coordinator: InstallCoordinator
        let fetched: Requests
        let nodes: [Int64]

        /// `nodeCount` nodes joined; an image request is "fetched" at once (resolved, every blob present).
        static func make(nodes nodeCount: Int) async throws -> Fixture {
            let database = try FerryDatabase.inMemory()
            var nodes: [Int64] = []
            for index in 1...nodeCount {
                nodes.append(try await database.join(name: "n\(index)", address: nil, platform: "linux/amd64", credentialHash: "h\(index)").id!)
            }
            let fetched = Requests()
            let coordinator = InstallCoordinator(
                database: database, logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }),
                fetch: { id in fetched.ids.withLock { $0.append(id) } })
            return Fixture(database: database, coordinator: coordinator, fetched: fetched, nodes: nodes)
        }

        /// Another coordinator on the same database (a restarted leader; other settings).
        func coordinator(loadSlotLease: Duration = LeaderConfiguration.defaultLoadSlotLease) -> InstallCoordinator {
            InstallCoordinator(
                database: database, logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }), fetch: { _ in },
                loadSlotLease: loadSlotLease)
        }

        /// The first node's targets of a new install of `names` (`registry.test/demo/NAME:1`, one
        /// load slot), each image resolved and held by the leader but those in `fetching`: the
        /// node has reported each `transferring`, and `ready` those the leader holds. Target and
        /// image ids in the order of `names`.
        func readyTargets(_ coordinator: InstallCoordinator, _ names: [String], fetching: Set<String> = []) async throws -> (targets: [Int64], images: [Int64]) {
            let install = try await coordinator.createInstall(InstallRequest(images: names.map { "registry.test/demo/\($0):1" }, maxParallel: 1))
            let rows = try await database.targets(ofInstall: install.id!)
            for id in Set(rows.map(\.imageId)) { try await resolve(id) }
            let work = try await coordinator.work(node: nodes[0], wait: .zero).items
            var targets: [Int64] = []
            var images: [Int64] = []
            for name in names {
                let target = try #require(work.first { $0.reference.hasSuffix("/\(name):1") }).targetID
                let image = try #require(rows.first { $0.id == target }).imageId
                try await coordinator.report(node: nodes[0], target: target, TargetReport(state: .transferring, starting: true))
                if !fetching.contains(name) {
                    for blob in try await database.blobs(ofImage: image) { try await database.setBlobState(blob.digest, .present) }
                    #expect(try await database.markImagePresent(imageID: image))
                    try await coordinator.report(node: nodes[0], target: target, TargetReport(state: .ready))
                }
                targets.append(target)
                images.append(image)
            }
            return (targets, images)
        }

        /// The leader's housekeeping at `now` (``InstallCoordinator/tick(now:)``), every node having
        /// heartbeaten then.
        func tick(_ coordinator: InstallCoordinator, at now: Date) async throws {
            for node in nodes { try await database.heartbeat(nodeID: node, now: now) }
            await coordinator.tick(now: now)
        }

        /// Records the image as resolved, so that nodes get it as work; another `version` is
        /// another manifest (the tag moved).
        func resolve(_ imageID: Int64, version: String = "") async throws {
            let config = Descriptor(mediaType: MediaType.dockerConfig, digest: Digest.sha256(of: Array("c\(imageID)\(version)".utf8)), size: 1)
            let manifest = Digest.sha256(of: Array("m\(imageID)\(version)".utf8))
            try await database.recordResolution(
                imageID: imageID,
                ImageResolution(
                    topDigest: manifest, manifestDigest: manifest, platform: nil,
                    manifests: [ManifestRecord(digest: manifest, mediaType: MediaType.dockerManifest, bytes: [1])], blobs: [config]))
        }
    }

    /// The image ids the coordinator asked the fetch worker for.
    final class Requests: Sendable {
        let ids = Mutex<[Int64]>([])
    }

    static let request = InstallRequest(images: ["registry.test/demo/app:1"])

    @Test("an install asks for its image once, and nodes get work once the image is resolved")
    func createAndWork() async throws {
        let fixture = try await Fixture.make(nodes: 2)
        let install = try await fixture.coordinator.createInstall(Self.request)
        #expect(install.maxParallel == InstallRequest.defaultMaxParallel)
        let requested = fixture.fetched.ids.withLock { $0 }
        #expect(requested.count == 1, "one image row for both nodes of one platform")
        #expect(try await fixture.coordinator.work(node: fixture.nodes[0], wait: .zero).items.isEmpty, "not resolved yet")
        try await fixture.resolve(requested[0])
        let work = try await fixture.coordinator.work(node: fixture.nodes[0], wait: .zero)
        #expect(work.items.count == 1 && work.items.first?.state == .waiting)
    }

    /// Seen in a CI run: a second install of an image the leader holds set the image back to
    /// `pending` to resolve its tag again, and the first install's node, polling with its target
    /// known, got an answer without it, stopped its transfer and load, and started over.
    @Test("another install of the same image leaves a node's running target listed while the tag is resolved again")
    func secondInstallKeepsRunningTargets() async throws {
        let fixture = try await Fixture.make(nodes: 2)
        _ = try await fixture.coordinator.createInstall(InstallRequest(images: ["registry.test/demo/app:1"], nodes: ["n1"]))
        let image = try #require(fixture.fetched.ids.withLock { $0 }.first)
        try await fixture.resolve(image)
        for blob in try await fixture.database.blobs(ofImage: image) { try await fixture.database.setBlobState(blob.digest, .present) }
        #expect(try await fixture.database.markImagePresent(imageID: image))
        let first = try await fixture.coordinator.work(node: fixture.nodes[0], wait: .zero)
        let target = try #require(first.items.first?.targetID)

        _ = try await fixture.coordinator.createInstall(InstallRequest(images: ["registry.test/demo/app:1"], nodes: ["n2"]))
        #expect(try await fixture.database.image(id: image)?.state == .pending, "the tag is resolved again")
        let during = try await fixture.coordinator.work(node: fixture.nodes[0], wait: .zero, known: [target])
        #expect(during.items.map(\.targetID) == [target], "n1 keeps its target")
        #expect(try await fixture.coordinator.work(node: fixture.nodes[1], wait: .zero).items.isEmpty, "n2 waits for the new resolution")
        try await fixture.resolve(image)
        #expect(try await fixture.coordinator.work(node: fixture.nodes[1], wait: .zero).items.count == 1)
        #expect(
            try await fixture.coordinator.work(node: fixture.nodes[0], wait: .zero, known: [target]).items.first?.manifestDigest
                == first.items.first?.manifestDigest)

        // A third install, and the tag has moved: n1's long poll answers at once with the new
        // digest (it was resolved before the poll began: no change comes during it), and n1
        // starts its target over with it (FollowerWork).
        _ = try await fixture.coordinator.createInstall(InstallRequest(images: ["registry.test/demo/app:1"], nodes: ["n2"]))
        // (The answers above told n1 the first digest: the leader compares with that.)
        try await fixture.resolve(image, version: "moved")
        let asked = ContinuousClock.now
        let moved = try await fixture.coordinator.work(node: fixture.nodes[0], wait: .seconds(90), known: [target])
        #expect(ContinuousClock.now - asked < .seconds(45), "answered at once, not at the end of its wait")
        #expect(moved.items.map(\.targetID) == [target])
        #expect(moved.items.first?.manifestDigest == Digest.sha256(of: Array("m\(image)moved".utf8)))
    }

    /// Before, a node whose target's tag moved while the leader was down learned of it only when
    /// its long poll timed out (up to 25 s): the restarted leader had not told it any digest yet.
    @Test("after a leader restart, a node running targets is answered at once, with the digests the tag has now; then its polls wait again")
    func firstPollAfterRestartAnswersAtOnce() async throws {
        let fixture = try await Fixture.make(nodes: 1)
        _ = try await fixture.coordinator.createInstall(Self.request)
        let image = try #require(fixture.fetched.ids.withLock { $0 }.first)
        try await fixture.resolve(image)
        let target = try #require(try await fixture.coordinator.work(node: fixture.nodes[0], wait: .zero).items.first?.targetID)

        // The leader restarts (a new coordinator: nothing handed out yet) after the tag moved.
        try await fixture.resolve(image, version: "moved")
        let restarted = fixture.coordinator()
        let asked = ContinuousClock.now
        let first = try await restarted.work(node: fixture.nodes[0], wait: .seconds(90), known: [target])
        #expect(ContinuousClock.now - asked < .seconds(45), "answered at once, not at the end of its wait")
        #expect(first.items.first?.manifestDigest == Digest.sha256(of: Array("m\(image)moved".utf8)))
        let again = ContinuousClock.now
        _ = try await restarted.work(node: fixture.nodes[0], wait: .milliseconds(300), known: [target])
        #expect(ContinuousClock.now - again >= .milliseconds(300), "nothing new: the next poll waits")
    }

    /// Before, a new install's resolution of a tag the leader held failed for good
    /// (a 404, a 401 after a licence was revoked), and every unfinished target of the image
    /// failed, also those of an install under way whose nodes were loading the held image.
    @Test("a new install's failed resolution of a held tag fails that install only; the one under way goes on with the held digest")
    func failedResolutionAgainSparesInstallsUnderWay() async throws {
        let fixture = try await Fixture.make(nodes: 3)
        let first = try await fixture.coordinator.createInstall(InstallRequest(images: ["registry.test/demo/app:1"], nodes: ["n1", "n3"]))
        let image = try #require(fixture.fetched.ids.withLock { $0 }.first)
        try await fixture.resolve(image)
        let blobs = try await fixture.database.blobs(ofImage: image)
        for blob in blobs { try await fixture.database.setBlobState(blob.digest, .present) }
        #expect(try await fixture.database.markImagePresent(imageID: image))
        let before = try await fixture.coordinator.work(node: fixture.nodes[0], wait: .zero)
        let target = try #require(before.items.first?.targetID)
        try await fixture.coordinator.report(node: fixture.nodes[0], target: target, TargetReport(state: .transferring, starting: true))

        let second = try await fixture.coordinator.createInstall(InstallRequest(images: ["registry.test/demo/app:1"], nodes: ["n2"]))
        #expect(try await fixture.database.image(id: image)?.state == .pending)
        try await fixture.coordinator.imageFailed(image, failure: FerryError(.manifestUnknown, "no such tag"))

        // The new install fails with the upstream's answer; the image says so too.
        #expect(try await fixture.database.install(id: second.id!)?.state == .failed)
        let failed = try #require(try await fixture.database.targets(ofInstall: second.id!).first)
        #expect(failed.state == .failed && failed.errorCode == "MANIFEST_UNKNOWN", "\(failed)")
        #expect(try await fixture.database.image(id: image)?.state == .failed)
        // The install under way goes on: n1 keeps its target with the digest it had, n3 (not
        // started yet) gets it, and both may still read its blobs.
        #expect(try await fixture.database.install(id: first.id!)?.state == .running)
        let after = try await fixture.coordinator.work(node: fixture.nodes[0], wait: .zero, known: [target])
        #expect(after.items.map(\.targetID) == [target] && after.items.first?.manifestDigest == before.items.first?.manifestDigest)
        let other = try #require(try await fixture.coordinator.work(node: fixture.nodes[2], wait: .zero).items.first)
        for node in [fixture.nodes[0], fixture.nodes[2]] {
            #expect(try await fixture.database.node(node, mayRead: blobs[0].digest))
        }
        #expect(try await !fixture.database.node(fixture.nodes[1], mayRead: blobs[0].digest), "the failed install's node reads nothing")
        for (node, id) in [(fixture.nodes[0], target), (fixture.nodes[2], other.targetID)] {
            try await fixture.coordinator.report(node: node, target: id, TargetReport(state: .done))
        }
        #expect(try await fixture.database.install(id: first.id!)?.state == .done)
    }

    @Test("a failure after the tag moved (a new blob that cannot be fetched), or of a first resolution, fails every install of the image")
    func failureOfANewResolutionFailsEveryInstall() async throws {
        let fixture = try await Fixture.make(nodes: 2)
        let first = try await fixture.coordinator.createInstall(InstallRequest(images: ["registry.test/demo/app:1"], nodes: ["n1"]))
        let image = try #require(fixture.fetched.ids.withLock { $0 }.first)
        try await fixture.resolve(image)
        for blob in try await fixture.database.blobs(ofImage: image) { try await fixture.database.setBlobState(blob.digest, .present) }
        #expect(try await fixture.database.markImagePresent(imageID: image))
        let second = try await fixture.coordinator.createInstall(InstallRequest(images: ["registry.test/demo/app:1"], nodes: ["n2"]))
        try await fixture.resolve(image, version: "moved")
        try await fixture.coordinator.imageFailed(image, failure: FerryError(.blobUnknown, "a layer is gone"))
        for install in [first, second] {
            #expect(try await fixture.database.install(id: install.id!)?.state == .failed)
        }

        // The leader no longer holds the whole image (a blob lost from its store): nothing to go on with.
        let fourth = try await fixture.coordinator.createInstall(InstallRequest(images: ["registry.test/demo/app:1"], nodes: ["n1"]))
        for blob in try await fixture.database.blobs(ofImage: image) { try await fixture.database.setBlobState(blob.digest, .present) }
        #expect(try await fixture.database.markImagePresent(imageID: image))
        let target = try #require(try await fixture.coordinator.work(node: fixture.nodes[0], wait: .zero).items.first?.targetID)
        try await fixture.coordinator.report(node: fixture.nodes[0], target: target, TargetReport(state: .transferring, starting: true))
        let fifth = try await fixture.coordinator.createInstall(InstallRequest(images: ["registry.test/demo/app:1"], nodes: ["n2"]))
        try await fixture.database.setBlobState(try #require(try await fixture.database.blobs(ofImage: image).first).digest, .missing)
        try await fixture.coordinator.imageFailed(image, failure: FerryError(.manifestUnknown, "no such tag"))
        for install in [fourth, fifth] {
            #expect(try await fixture.database.install(id: install.id!)?.state == .failed)
        }

        // The first resolution of another image: nothing is held, its install fails.
        let third = try await fixture.coordinator.createInstall(InstallRequest(images: ["registry.test/demo/other:1"], nodes: ["n1"]))
        try await fixture.coordinator.imageFailed(try #require(fixture.fetched.ids.withLock { $0 }.last), failure: FerryError(.unauthorized, "no"))
        #expect(try await fixture.database.install(id: third.id!)?.state == .failed)
    }

    @Test("an image named twice, however spelled, is installed once (before: a database error, and the image left pending)")
    func duplicateImages() async throws {
        let fixture = try await Fixture.make(nodes: 1)
        let install = try await fixture.coordinator.createInstall(
            InstallRequest(images: ["registry.test/demo/app:1", "registry.test/demo/app:1", "busybox:1", "docker.io/library/busybox:1"]))
        #expect(try await fixture.database.targets(ofInstall: install.id!).count == 2)
        #expect(Set(fixture.fetched.ids.withLock { $0 }).count == 2, "each image asked for once")
    }

    @Test("bad requests are refused before anything is created")
    func badRequests() async throws {
        let fixture = try await Fixture.make(nodes: 1)
        await #expect(throws: FerryError.self) { try await fixture.coordinator.createInstall(InstallRequest(images: [])) }
        await #expect(throws: FerryError.self) { try await fixture.coordinator.createInstall(InstallRequest(images: ["UPPER/Case"])) }
        await #expect(throws: FerryError.self) { try await fixture.coordinator.createInstall(InstallRequest(images: ["a/b:1"], nodes: ["nope"])) }
        await #expect(throws: FerryError.self) { try await fixture.coordinator.createInstall(InstallRequest(images: ["a/b:1"], maxParallel: 0)) }
        // An empty node list is not every node (nil is).
        let empty = await #expect(throws: FerryError.self) { try await fixture.coordinator.createInstall(InstallRequest(images: ["a/b:1"], nodes: [])) }
        #expect(empty?.code == .invalidArgument && empty?.message.contains("node list is empty") == true)
        #expect(try await fixture.database.installs().isEmpty)
        #expect(fixture.fetched.ids.withLock { $0 }.isEmpty)
    }

    @Test("reports move targets as the lifecycle allows; another node's target and a finished one are refused")
    func reports() async throws {
        let fixture = try await Fixture.make(nodes: 2)
        let install = try await fixture.coordinator.createInstall(Self.request)
        try await fixture.resolve(fixture.fetched.ids.withLock { $0[0] })
        let target = try #require(try await fixture.coordinator.work(node: fixture.nodes[0], wait: .zero).items.first).targetID
        try await fixture.coordinator.report(node: fixture.nodes[0], target: target, TargetReport(state: .transferring, starting: true))
        await #expect(throws: FerryError.self) {
            try await fixture.coordinator.report(node: fixture.nodes[1], target: target, TargetReport(state: .done))
        }
        do {
            try await fixture.coordinator.report(node: fixture.nodes[0], target: target, TargetReport(state: .loading))
            Issue.record("transferring → loading skips the load slot")
        } catch let error as FerryError {
            #expect(error.code == .conflict)
        }
        try await fixture.coordinator.report(node: fixture.nodes[0], target: target, TargetReport(state: .failed, error: ErrorEntry(code: "X", message: "y")))
        do {
            try await fixture.coordinator.report(node: fixture.nodes[0], target: target, TargetReport(state: .transferring))
            Issue.record("failed is final")
        } catch let error as FerryError {
            #expect(error.code == .conflict)
        }
        #expect(try await fixture.database.install(id: install.id!)?.state == .running, "the other node's target is unfinished")
    }

    @Test("load slots: at most maxParallel nodes load at once; a slot frees when a node is done; a finished target is told it is over")
    func loadSlots() async throws {
        let fixture = try await Fixture.make(nodes: 3)
        _ = try await fixture.coordinator.createInstall(InstallRequest(images: ["registry.test/demo/app:1"], maxParallel: 1))
        try await fixture.resolve(fixture.fetched.ids.withLock { $0[0] })
        var targets: [Int64] = []
        for node in fixture.nodes {
            let target = try #require(try await fixture.coordinator.work(node: node, wait: .zero).items.first).targetID
            try await fixture.coordinator.report(node: node, target: target, TargetReport(state: .transferring, starting: true))
            try await fixture.coordinator.report(node: node, target: target, TargetReport(state: .ready))
            targets.append(target)
        }
        #expect(try await fixture.coordinator.requestLoad(node: fixture.nodes[0], target: targets[0], wait: .zero).granted)
        #expect(try await !fixture.coordinator.requestLoad(node: fixture.nodes[1], target: targets[1], wait: .zero).granted)
        try await fixture.coordinator.report(node: fixture.nodes[0], target: targets[0], TargetReport(state: .done))
        #expect(try await fixture.coordinator.requestLoad(node: fixture.nodes[1], target: targets[1], wait: .zero).granted)
        // The third node's target fails by the deadline while it waits: its next request is told.
        _ = try await fixture.database.apply(.deadlinePassed(), toTarget: targets[2], nodeID: nil)
        do {
            _ = try await fixture.coordinator.requestLoad(node: fixture.nodes[2], target: targets[2], wait: .zero)
            Issue.record("a finished target must not wait for a slot")
        } catch let error as FerryError {
            #expect(error.code == .conflict)
        }
    }

    /// docs/security.md, left by the 2026-12-06 audit: a node that took a load slot and never
    /// finished, while it kept heartbeating, held it; an install with `--max-parallel 1` waited
    /// until its deadline, or for ever.
    @Test("a slot held past its lease goes to the next node; the node that held it gets a free one again, and loses it to the next node that asks")
    func loadSlotLease() async throws {
        let fixture = try await Fixture.make(nodes: 3)
        let coordinator = fixture.coordinator(loadSlotLease: .seconds(60))
        let install = try await coordinator.createInstall(InstallRequest(images: ["registry.test/demo/app:1"], maxParallel: 1))
        let image = try #require(try await fixture.database.targets(ofInstall: install.id!).first).imageId
        try await fixture.resolve(image)
        var targets: [Int64] = []
        for node in fixture.nodes {
            let target = try #require(try await coordinator.work(node: node, wait: .zero).items.first).targetID
            try await coordinator.report(node: node, target: target, TargetReport(state: .transferring, starting: true))
            targets.append(target)
        }
        // The liar says it holds every blob and takes the one slot; an honest node asks and waits.
        try await coordinator.report(node: fixture.nodes[0], target: targets[0], TargetReport(state: .ready))
        #expect(try await coordinator.requestLoad(node: fixture.nodes[0], target: targets[0], wait: .zero).granted)
        try await coordinator.report(node: fixture.nodes[1], target: targets[1], TargetReport(state: .ready))
        #expect(try await !coordinator.requestLoad(node: fixture.nodes[1], target: targets[1], wait: .zero).granted)

        // Every node keeps heartbeating (the liar too): none is silent.
        func tick(after seconds: TimeInterval) async throws { try await fixture.tick(coordinator, at: Date().addingTimeInterval(seconds)) }
        try await tick(after: 1)
        try await tick(after: 61)
        #expect(try await fixture.database.target(id: targets[0])?.state == .loading, "no lease while the leader still fetches the image")
        for blob in try await fixture.database.blobs(ofImage: image) { try await fixture.database.setBlobState(blob.digest, .present) }
        #expect(try await fixture.database.markImagePresent(imageID: image))
        // The lease was paused from the first housekeeping (1 s on) to the one that saw the
        // leader hold the image (91 s on): 1 s held.
        try await tick(after: 91)
        #expect(try await fixture.database.target(id: targets[0])?.state == .loading, "within its lease")
        // Starting over does not start the lease over.
        let granted = try #require(try await fixture.database.target(id: targets[0])?.loadGrantedAt)
        try await coordinator.report(node: fixture.nodes[0], target: targets[0], TargetReport(state: .transferring, starting: true))
        try await coordinator.report(node: fixture.nodes[0], target: targets[0], TargetReport(state: .ready))
        #expect(try await coordinator.requestLoad(node: fixture.nodes[0], target: targets[0], wait: .zero).granted)
        #expect(try await fixture.database.target(id: targets[0])?.loadGrantedAt == granted)
        try await tick(after: 123)
        #expect(try await fixture.database.target(id: targets[0])?.state == .loading, "33 s held")
        try await tick(after: 152)
        let lapsed = try #require(try await fixture.database.target(id: targets[0]))
        #expect(lapsed.state == .ready && lapsed.loadLapses == 1)
        #expect(try await coordinator.requestLoad(node: fixture.nodes[1], target: targets[1], wait: .zero).granted)
        // The honest node loads; the liar waits like anyone.
        #expect(try await !coordinator.requestLoad(node: fixture.nodes[0], target: targets[0], wait: .zero).granted)
        try await coordinator.report(node: fixture.nodes[1], target: targets[1], TargetReport(state: .done))
        // The slot is free: the liar takes it (it delays only itself), and loses it at once to the
        // next node that asks, which keeps it for its own lease.
        #expect(try await coordinator.requestLoad(node: fixture.nodes[0], target: targets[0], wait: .zero).granted)
        try await coordinator.report(node: fixture.nodes[2], target: targets[2], TargetReport(state: .ready))
        #expect(try await coordinator.requestLoad(node: fixture.nodes[2], target: targets[2], wait: .zero).granted)
        #expect(try await fixture.database.target(id: targets[0])?.state == .ready)
        #expect(try await fixture.database.target(id: targets[0])?.loadLapses == 2)
        #expect(try await !coordinator.requestLoad(node: fixture.nodes[0], target: targets[0], wait: .zero).granted)
    }

    @Test("a node's lease covers all its images in an install: taking the slot for its next image does not start a new one, and a lapse counts for all")
    func loadSlotLeasePerNode() async throws {
        let fixture = try await Fixture.make(nodes: 2)
        let coordinator = fixture.coordinator(loadSlotLease: .seconds(60))
        let install = try await coordinator.createInstall(
            InstallRequest(images: ["registry.test/demo/a:1", "registry.test/demo/b:1", "registry.test/demo/c:1"], nodes: ["n1", "n2"], maxParallel: 1))
        for id in Set(try await fixture.database.targets(ofInstall: install.id!).map(\.imageId)) {
            try await fixture.resolve(id)
            for blob in try await fixture.database.blobs(ofImage: id) { try await fixture.database.setBlobState(blob.digest, .present) }
            #expect(try await fixture.database.markImagePresent(imageID: id))
        }
        let (liar, honest) = (fixture.nodes[0], fixture.nodes[1])
        let items = try await coordinator.work(node: liar, wait: .zero).items.map(\.targetID)
        #expect(items.count == 3)
        for target in items {
            try await coordinator.report(node: liar, target: target, TargetReport(state: .transferring, starting: true))
            try await coordinator.report(node: liar, target: target, TargetReport(state: .ready))
        }
        // Its first image's slot, granted 40 s ago; its second now, then the first reported done:
        // the lease still runs from the first grant.
        let now = Date()
        #expect(try await fixture.database.apply(.loadGranted, toTarget: items[0], nodeID: liar, now: now.addingTimeInterval(-40)) != nil)
        #expect(try await coordinator.requestLoad(node: liar, target: items[1], wait: .zero).granted)
        try await coordinator.report(node: liar, target: items[0], TargetReport(state: .done))
        // Its lease: 60 s, and 30 s for each of its other two images.
        try await fixture.database.heartbeat(nodeID: liar, now: now.addingTimeInterval(81))
        try await fixture.database.heartbeat(nodeID: honest, now: now.addingTimeInterval(81))
        await coordinator.tick(now: now.addingTimeInterval(81))
        let after = try await fixture.database.targets(ofInstall: install.id!).filter { $0.nodeId == liar }
        let second = try #require(after.first { $0.id == items[1] })
        #expect(second.state == .ready, "121 s since its first grant: \(second)")
        // Every unfinished image of the node counts the lapse: its third cannot take a slot back
        // from a node that lapsed less.
        #expect(after.filter { !$0.state.isFinished }.allSatisfy { $0.loadLapses == 1 && $0.loadGrantedAt == nil }, "\(after)")
        let theirs = try #require(try await coordinator.work(node: honest, wait: .zero).items.first?.targetID)
        try await coordinator.report(node: honest, target: theirs, TargetReport(state: .transferring, starting: true))
        try await coordinator.report(node: honest, target: theirs, TargetReport(state: .ready))
        #expect(try await coordinator.requestLoad(node: liar, target: items[2], wait: .zero).granted, "a free slot")
        #expect(try await coordinator.requestLoad(node: honest, target: theirs, wait: .zero).granted, "taken from the node that lapsed")
        #expect(try await fixture.database.target(id: items[2])?.state == .ready)
    }

    /// Left by the session that built the lease: it counted from the first grant, so an honest
    /// node that gave its slot up by starting over, and whose next transfer took longer than the
    /// lease, lapsed the moment it took the slot again.
    @Test("a lease counts only the time a slot is held: a node that starts over, or goes silent, keeps the rest of its lease")
    func loadSlotLeaseCountsTimeHeld() async throws {
        let fixture = try await Fixture.make(nodes: 1)
        let coordinator = fixture.coordinator(loadSlotLease: .seconds(60))
        let node = fixture.nodes[0]
        let target = try await fixture.readyTargets(coordinator, ["app"]).targets[0]

        let start = Date()
        func tick(after seconds: TimeInterval, beating: Bool = true) async throws -> InstallTargetRecord {
            if beating { try await fixture.database.heartbeat(nodeID: node, now: start.addingTimeInterval(seconds)) }
            await coordinator.tick(now: start.addingTimeInterval(seconds))
            return try #require(try await fixture.database.target(id: target))
        }
        #expect(try await fixture.database.loadSlot(targetID: target, nodeID: node, now: start) == .granted)
        #expect(try await tick(after: 30).state == .loading)
        // Its transfer failed at 30 s: it starts over, without a slot, for far longer than the lease.
        try await coordinator.report(node: node, target: target, TargetReport(state: .transferring, starting: true))
        #expect(try await tick(after: 32).loadPausedAt != nil, "the housekeeping sees the node hold no slot")
        #expect(try await tick(after: 300).state == .transferring)
        try await coordinator.report(node: node, target: target, TargetReport(state: .ready))
        #expect(try await fixture.database.loadSlot(targetID: target, nodeID: node, now: start.addingTimeInterval(300)) == .granted)
        // 32 s held before (the pause begins at the housekeeping that saw it), 10 s now.
        let resumed = try await tick(after: 310)
        #expect(resumed.state == .loading && resumed.loadLapses == 0, "42 s held of its 60 s lease: \(resumed)")
        #expect(resumed.loadPausedAt == nil)
        // It goes silent: its slot is given back after three heartbeats, and the silence after that does not count.
        #expect(try await tick(after: 326, beating: false).state == .ready, "given back, 58 s held")
        #expect(try await tick(after: 500, beating: false).loadLapses == 0)
        #expect(try await fixture.database.loadSlot(targetID: target, nodeID: node, now: start.addingTimeInterval(500)) == .granted)
        #expect(try await tick(after: 501).state == .loading, "59 s held")
        // The lease still runs out in the time held, whatever the pauses between.
        let lapsed = try await tick(after: 504)
        #expect(lapsed.state == .ready && lapsed.loadLapses == 1, "62 s held: \(lapsed)")
        #expect(lapsed.loadGrantedAt == nil && lapsed.loadPausedAt == nil)
    }

    /// Found by review: the lease was started over (not paused) while the leader fetched an
    /// image the node loads, so a node near the end of its lease took a slot for an image the
    /// leader was still fetching and got a whole new lease.
    @Test("a lease paused while the leader fetches an image keeps the time the node held a slot before")
    func loadSlotLeasePausedByAFetch() async throws {
        let fixture = try await Fixture.make(nodes: 1)
        let coordinator = fixture.coordinator(loadSlotLease: .seconds(60))
        // The leader holds a; it still fetches b.
        let (targets, images) = try await fixture.readyTargets(coordinator, ["a", "b"], fetching: ["b"])
        let (node, a, b) = (fixture.nodes[0], targets[0], targets[1])

        let start = Date()
        func tick(after seconds: TimeInterval) async throws { try await fixture.tick(coordinator, at: start.addingTimeInterval(seconds)) }
        #expect(try await fixture.database.loadSlot(targetID: a, nodeID: node, now: start) == .granted)
        try await tick(after: 30)
        // Near the end of its lease it takes the slot for b, which the leader still fetches.
        #expect(try await fixture.database.loadSlot(targetID: b, nodeID: node, now: start.addingTimeInterval(49)) == .granted)
        try await tick(after: 50)
        try await tick(after: 200)
        #expect(try await fixture.database.target(id: b)?.state == .loading, "no lease while the leader fetches b")
        for blob in try await fixture.database.blobs(ofImage: images[1]) { try await fixture.database.setBlobState(blob.digest, .present) }
        #expect(try await fixture.database.markImagePresent(imageID: images[1]))
        // 50 s held before the pause (it begins at the housekeeping that saw b being fetched).
        try await tick(after: 202)
        // Its lease: 60 s, and 30 s for its second image.
        try await tick(after: 238)
        #expect(try await fixture.database.target(id: b)?.state == .loading, "86 s held")
        try await tick(after: 243)
        let lapsed = try #require(try await fixture.database.target(id: b))
        #expect(lapsed.state == .ready && lapsed.loadLapses == 1, "91 s held, not a new lease: \(lapsed)")
    }

    /// Found by review: an image reported `done` left the lease, so a liar with several images
    /// got a new lease for each by reporting the one it held `done` (false, which harms only it).
    @Test("an image reported done keeps its time in the node's lease: the next image goes on with what is left")
    func loadSlotLeaseOutlivesADone() async throws {
        let fixture = try await Fixture.make(nodes: 1)
        let coordinator = fixture.coordinator(loadSlotLease: .seconds(60))
        let targets = try await fixture.readyTargets(coordinator, ["a", "b"]).targets
        let (node, a, b) = (fixture.nodes[0], targets[0], targets[1])
        let start = Date()
        func tick(after seconds: TimeInterval) async throws { try await fixture.tick(coordinator, at: start.addingTimeInterval(seconds)) }
        #expect(try await fixture.database.loadSlot(targetID: a, nodeID: node, now: start) == .granted)
        try await tick(after: 30)
        try await coordinator.report(node: node, target: a, TargetReport(state: .done))
        try await tick(after: 59)
        // Without a slot for 41 s (not counted), then b's slot.
        try await tick(after: 90)
        #expect(try await fixture.database.loadSlot(targetID: b, nodeID: node, now: start.addingTimeInterval(100)) == .granted)
        // Its lease: 60 s, and 30 s for its second image.
        try await tick(after: 128)
        #expect(try await fixture.database.target(id: b)?.state == .loading, "87 s held")
        try await tick(after: 132)
        let lapsed = try #require(try await fixture.database.target(id: b))
        #expect(lapsed.state == .ready && lapsed.loadLapses == 1, "91 s held, not a new lease: \(lapsed)")
        let done = try #require(try await fixture.database.target(id: a))
        #expect(done.state == .done && done.loadLapses == 0 && done.loadGrantedAt == nil, "the lease that ended is forgotten on the finished target too")
    }

    /// Found by review: a restarted leader's first housekeeping gave back the slots of every
    /// node (all silent to it) and paused their leases only then, so its own downtime counted as
    /// time they held a slot (``InstallCoordinator/pauseLeasesAtStart(now:)``, called by
    /// `LeaderService.run` before the server starts).
    @Test("the leader's downtime does not count in a node's lease: paused from its last recorded heartbeat")
    func loadSlotLeaseSkipsLeaderDowntime() async throws {
        let fixture = try await Fixture.make(nodes: 1)
        let before = fixture.coordinator(loadSlotLease: .seconds(60))
        let node = fixture.nodes[0]
        let target = try await fixture.readyTargets(before, ["app"]).targets[0]
        let start = Date()
        #expect(try await fixture.database.loadSlot(targetID: target, nodeID: node, now: start) == .granted)
        try await fixture.tick(before, at: start.addingTimeInterval(30))
        // The leader stops at 30 s and starts again 10 minutes later: it pauses the leases before
        // it serves, and its first housekeeping gives the silent node's slot back.
        let after = fixture.coordinator(loadSlotLease: .seconds(60))
        await after.pauseLeasesAtStart(now: start.addingTimeInterval(630))
        await after.tick(now: start.addingTimeInterval(630))
        let released = try #require(try await fixture.database.target(id: target))
        #expect(released.state == .ready && released.loadLapses == 0)
        #expect(released.loadPausedAt.map { abs($0.timeIntervalSince(start.addingTimeInterval(30))) < 0.01 } == true, "\(released)")
        // The node is back and takes the slot again: 30 s held so far.
        try await fixture.database.heartbeat(nodeID: node, now: start.addingTimeInterval(635))
        #expect(try await fixture.database.loadSlot(targetID: target, nodeID: node, now: start.addingTimeInterval(635)) == .granted)
        try await fixture.tick(after, at: start.addingTimeInterval(660))
        #expect(try await fixture.database.target(id: target)?.state == .loading, "55 s held")
        try await fixture.tick(after, at: start.addingTimeInterval(667))
        #expect(try await fixture.database.target(id: target)?.loadLapses == 1, "62 s held")
    }

    @Test("a long poll for work wakes the moment the node's image is resolved, long before it is fetched")
    func longPollWakes() async throws {
        let fixture = try await Fixture.make(nodes: 1)
        _ = try await fixture.coordinator.createInstall(Self.request)
        let poll = Task { try await fixture.coordinator.work(node: fixture.nodes[0], wait: .seconds(50)) }
        // The poll found nothing (the image is not resolved) and waits on the signal.
        try await waitFor { fixture.coordinator.signal.waiterCount == 1 }
        // Only the resolution is recorded (no blob is present, nobody notifies by hand): the commit wakes the poll.
        try await fixture.resolve(fixture.fetched.ids.withLock { $0[0] })
        let work = try await poll.value
        #expect(work.items.count == 1, "woken with the work, long before its 50 s")
    }

    @Test("progress reports and heartbeats wake no long poll; a target's move does")
    func onlyStateChangesWake() async throws {
        let fixture = try await Fixture.make(nodes: 1)
        _ = try await fixture.coordinator.createInstall(Self.request)
        try await fixture.resolve(fixture.fetched.ids.withLock { $0[0] })
        let target = try #require(try await fixture.coordinator.work(node: fixture.nodes[0], wait: .zero).items.first).targetID
        try await fixture.coordinator.report(node: fixture.nodes[0], target: target, TargetReport(state: .transferring, starting: true))
        let before = fixture.coordinator.signal.generation
        try await fixture.coordinator.report(node: fixture.nodes[0], target: target, TargetReport(state: .transferring, bytesDone: 10, bytesTotal: 100))
        try await fixture.database.heartbeat(nodeID: fixture.nodes[0])
        #expect(fixture.coordinator.signal.generation == before, "bytes done and last seen are not changes to anyone's work")
        try await fixture.coordinator.report(node: fixture.nodes[0], target: target, TargetReport(state: .ready))
        #expect(fixture.coordinator.signal.generation > before, "a move notifies as it commits")
    }

    @Test("progress counts no transfer can have are refused (negative, past 1 PiB); more done than the total is kept at the total")
    func absurdProgressIsRefused() async throws {
        let fixture = try await Fixture.make(nodes: 1)
        let install = try await fixture.coordinator.createInstall(Self.request)
        try await fixture.resolve(fixture.fetched.ids.withLock { $0[0] })
        let node = fixture.nodes[0]
        let target = try #require(try await fixture.coordinator.work(node: node, wait: .zero).items.first).targetID
        try await fixture.coordinator.report(node: node, target: target, TargetReport(state: .transferring, starting: true))
        for report in [
            TargetReport(state: .transferring, bytesDone: -5, bytesTotal: 100), TargetReport(state: .transferring, bytesDone: 1, bytesTotal: Int64.max),
            TargetReport(state: .transferring, bytesDone: Int64.max, bytesTotal: Int64.max), TargetReport(state: .transferring, bytesTotal: Int64.min),
        ] {
            await expectError(.invalidArgument) { try await fixture.coordinator.report(node: node, target: target, report) }
        }
        try await fixture.coordinator.report(node: node, target: target, TargetReport(state: .transferring, bytesDone: 500, bytesTotal: 100))
        let stored = try #require(try await fixture.database.targets(ofInstall: install.id!).first)
        #expect(stored.bytesDone == 100 && stored.bytesTotal == 100, "\(stored.bytesDone) / \(stored.bytesTotal)")
    }

    @Test("a node may hold a few work long polls at once, not more (a liar's 2,000 slowed every install); a poll without wait is not counted")
    func longPollsPerNodeAreCapped() async throws {
        let fixture = try await Fixture.make(nodes: 2)
        let node = fixture.nodes[0]
        let polls = (0..<NodeLongPolls.limit).map { _ in Task { try await fixture.coordinator.work(node: node, wait: .seconds(50)) } }
        try await waitUntil("the node's polls waiting") { fixture.coordinator.longPolls.count(node) == NodeLongPolls.limit }
        await expectError(.tooManyRequests) { _ = try await fixture.coordinator.work(node: node, wait: .seconds(50)) }
        _ = try await fixture.coordinator.work(node: node, wait: .zero)
        _ = try await fixture.coordinator.work(node: fixture.nodes[1], wait: .milliseconds(10))
        // Work appears: every poll answers, and the node may wait again.
        _ = try await fixture.coordinator.createInstall(Self.request)
        try await fixture.resolve(fixture.fetched.ids.withLock { $0[0] })
        for poll in polls { #expect(try await poll.value.items.count == 1) }
        #expect(fixture.coordinator.longPolls.count(node) == 0)
    }

    @Test("an image that cannot be fetched fails its targets with its reason and closes the install")
    func imageFailure() async throws {
        let fixture = try await Fixture.make(nodes: 2)
        let install = try await fixture.coordinator.createInstall(Self.request)
        try await fixture.coordinator.imageFailed(fixture.fetched.ids.withLock { $0[0] }, failure: FerryError(.manifestUnknown, "no such tag"))
        let targets = try await fixture.database.targets(ofInstall: install.id!)
        #expect(targets.allSatisfy { $0.state == .failed && $0.errorCode == "MANIFEST_UNKNOWN" })
        // Shown per node: said as the leader's (a full leader store read as the node's disk).
        #expect(targets.allSatisfy { $0.errorMessage == "the leader could not fetch the image: no such tag" }, "\(targets.map(\.errorMessage))")
        #expect(try await fixture.database.install(id: install.id!)?.state == .failed)
    }

    /// With the image still arriving at the leader, the reason says how much of it the leader
    /// held: the upstream, not the node, was the slower part (an audit's deadline failure named
    /// every node while the leader held 7 of 42 MB).
    @Test("housekeeping fails the targets of an install past its deadline, each with the right reason", arguments: [true, false])
    func deadline(leaderHoldsTheImage: Bool) async throws {
        let fixture = try await Fixture.make(nodes: 2)
        let install = try await fixture.coordinator.createInstall(InstallRequest(images: ["registry.test/demo/app:1"], deadlineSeconds: 60))
        let image = fixture.fetched.ids.withLock { $0[0] }
        try await fixture.resolve(image)
        if leaderHoldsTheImage {
            try await fixture.database.setBlobState(Digest.sha256(of: Array("c\(image)".utf8)), .present)
            #expect(try await fixture.database.markImagePresent(imageID: image))
        }
        let target = try #require(try await fixture.coordinator.work(node: fixture.nodes[0], wait: .zero).items.first).targetID
        try await fixture.coordinator.report(node: fixture.nodes[0], target: target, TargetReport(state: .transferring, starting: true))
        await fixture.coordinator.tick(now: Date().addingTimeInterval(120))
        let targets = try await fixture.database.targets(ofInstall: install.id!)
        let messages = Set(targets.compactMap(\.errorMessage))
        let leader = "; the leader itself held only 0 B of the image's 1 B from the upstream, which was the slower part (a retry resumes what it has)"
        let expected = ["the node did not finish before the install deadline", "the node was not reached before the install deadline"]
        // A node never reached is the node's doing: no word about the leader.
        #expect(messages == Set(leaderHoldsTheImage ? expected : [expected[0] + leader, expected[1]]))
        #expect(try await fixture.database.install(id: install.id!)?.state == .failed)
    }

    @Test("a node's long poll with the targets it knows waits for a change, and answers at once when its targets are over")
    func longPollWaitsForAChange() async throws {
        let fixture = try await Fixture.make(nodes: 1)
        _ = try await fixture.coordinator.createInstall(InstallRequest(images: ["registry.test/demo/app:1"], deadlineSeconds: 60))
        try await fixture.resolve(fixture.fetched.ids.withLock { $0[0] })
        let target = try #require(try await fixture.coordinator.work(node: fixture.nodes[0], wait: .zero).items.first).targetID
        // The node runs it and says so: the poll waits instead of answering the same work again.
        let poll = Task { try await fixture.coordinator.work(node: fixture.nodes[0], wait: .seconds(50), known: [target]) }
        try await waitFor { fixture.coordinator.signal.waiterCount == 1 }
        await fixture.coordinator.tick(now: Date().addingTimeInterval(120))
        let work = try await poll.value
        #expect(work.items.isEmpty, "woken as the deadline failed the target, long before its 50 s")
        // Targets other than the known ones: at once.
        #expect(try await fixture.coordinator.work(node: fixture.nodes[0], wait: .seconds(50), known: [target, 999]).items.isEmpty)
    }
}
