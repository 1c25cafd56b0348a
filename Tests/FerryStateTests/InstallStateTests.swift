import FerryCore
import FerryState
import Foundation
import Testing

@Suite("FerryDatabase installs")
struct InstallStateTests {
    typealias F = StateFixtures

    /// Three nodes, one present image, an install over all of them.
    static func setUp(maxParallel: Int = 2, deadline: Date? = nil) async throws -> (FerryDatabase, [Int64], InstallRecord, ImageRecord) {
        let database = try FerryDatabase.inMemory()
        var nodes: [Int64] = []
        for name in ["a", "b", "c"] {
            nodes.append(try await database.join(name: name, address: nil, platform: "linux/amd64", credentialHash: "hash-\(name)").id!)
        }
        let image = try await database.storePresentImage("ghcr.io/o/app:1")
        let install = try await database.createInstall(
            InstallRecord(maxParallel: maxParallel, platform: nil, deadlineAt: deadline), targets: nodes.map { ($0, [image.id!]) })
        return (database, nodes, install, image)
    }

    static func target(_ database: FerryDatabase, install: InstallRecord, node: Int64) async throws -> InstallTargetRecord {
        try #require(try await database.targets(ofInstall: install.id!).first { $0.nodeId == node })
    }

    @Test func workIsTheNodesUnfinishedTargetsOfPresentImages() async throws {
        let (database, nodes, install, image) = try await Self.setUp()
        let work = try await database.work(forNode: nodes[0])
        #expect(work.count == 1)
        #expect(work.first?.image.id == image.id)
        let target = try await Self.target(database, install: install, node: nodes[0])
        _ = try await database.updateTarget(id: target.id!, nodeID: nodes[0], to: .done)
        #expect(try await database.work(forNode: nodes[0]).isEmpty)
        // An image being fetched again is not handed out until it is present.
        _ = try await database.requestImage(F.reference("ghcr.io/o/app:1"), platform: F.amd64)
        #expect(try await database.work(forNode: nodes[1]).isEmpty)
    }

    /// Another install of the same image sets it back to `pending` while its tag is resolved
    /// again: a node already running its target keeps it (before, the target vanished from its
    /// work for that moment, and the node stopped its transfer and started it over); a node
    /// that does not have it yet waits for the new resolution.
    @Test func aTargetRunningOnItsNodeStaysListedWhileItsImageIsResolvedAgain() async throws {
        let (database, nodes, _, image) = try await Self.setUp()
        let running = try #require(try await database.work(forNode: nodes[0]).first?.target.id)
        let again = try await database.requestImage(F.reference("ghcr.io/o/app:1"), platform: F.amd64)
        #expect(again.id == image.id && again.state == .pending)
        let kept = try await database.work(forNode: nodes[0], running: [running])
        #expect(kept.map(\.target.id) == [running])
        #expect(kept.first?.image.manifestDigest == image.manifestDigest, "listed with the digest of its last resolution")
        #expect(try await database.work(forNode: nodes[0]).isEmpty, "a node that does not run it yet waits for the resolution")
        #expect(try await database.work(forNode: nodes[1], running: [running]).isEmpty, "another node's target id gives nothing")
    }

    @Test func reportsFollowTheStateMachineAndOnlyForTheirOwnNode() async throws {
        let (database, nodes, install, _) = try await Self.setUp()
        let target = try await Self.target(database, install: install, node: nodes[0])
        #expect(try await database.updateTarget(id: target.id!, nodeID: nodes[1], to: .transferring) == nil, "another node's target")
        #expect(try await database.updateTarget(id: target.id!, nodeID: nodes[0], to: .loading) == nil, "waiting → loading skips steps")
        let moved = try #require(try await database.updateTarget(id: target.id!, nodeID: nodes[0], to: .transferring, bytesTotal: 100))
        #expect(moved.attempts == 1 && moved.startedAt != nil && moved.bytesTotal == 100)
        let progress = try #require(try await database.updateTarget(id: target.id!, nodeID: nodes[0], to: .transferring, bytesDone: 50))
        #expect(progress.attempts == 1 && progress.bytesDone == 50, "progress is not a new attempt")
        _ = try await database.updateTarget(id: target.id!, nodeID: nodes[0], to: .failed, error: FerryError(.dockerLoadFailed, "boom"))
        #expect(try await database.updateTarget(id: target.id!, nodeID: nodes[0], to: .transferring) == nil, "failed is final")
        #expect(try await database.updateTarget(id: target.id!, nodeID: nodes[0], to: .failed, note: "again") == nil, "even to itself")
        #expect(try await database.target(id: target.id!)?.note == nil)
        let failed = try #require(try await database.target(id: target.id!))
        #expect(failed.errorCode == "DOCKER_LOAD_FAILED" && failed.errorMessage == "boom" && failed.finishedAt != nil)
    }

    @Test func atMostMaxParallelNodesLoadAtOnce() async throws {
        let (database, nodes, install, _) = try await Self.setUp(maxParallel: 2)
        var targets: [Int64] = []
        for node in nodes {
            let target = try await Self.target(database, install: install, node: node)
            _ = try await database.updateTarget(id: target.id!, nodeID: node, to: .transferring)
            _ = try await database.updateTarget(id: target.id!, nodeID: node, to: .ready)
            targets.append(target.id!)
        }
        #expect(try await database.grantLoad(targetID: targets[0], nodeID: nodes[0]))
        #expect(try await database.grantLoad(targetID: targets[1], nodeID: nodes[1]))
        #expect(try await !database.grantLoad(targetID: targets[2], nodeID: nodes[2]), "two nodes are loading already")
        #expect(try await !database.grantLoad(targetID: targets[2], nodeID: nodes[1]), "not that node's target")
        _ = try await database.updateTarget(id: targets[0], nodeID: nodes[0], to: .done)
        #expect(try await database.grantLoad(targetID: targets[2], nodeID: nodes[2]), "a slot came free")
    }

    @Test func aTransferringTargetMayTakeItsSlotAndStaysLoadingThroughItsTransferReports() async throws {
        let (database, nodes, install, _) = try await Self.setUp(maxParallel: 1)
        let first = try await Self.target(database, install: install, node: nodes[0])
        let second = try await Self.target(database, install: install, node: nodes[1])
        for (target, node) in [(first, nodes[0]), (second, nodes[1])] {
            _ = try await database.updateTarget(id: target.id!, nodeID: node, to: .transferring, bytesTotal: 100)
        }
        #expect(try await database.grantLoad(targetID: first.id!, nodeID: nodes[0]), "the overlapped pull takes its slot while transferring")
        #expect(try await !database.grantLoad(targetID: second.id!, nodeID: nodes[1]), "max-parallel holds for it too")
        _ = try await database.updateTarget(id: first.id!, nodeID: nodes[0], to: .transferring, bytesDone: 60)
        _ = try await database.updateTarget(id: first.id!, nodeID: nodes[0], to: .ready, bytesDone: 100)
        let loading = try #require(try await database.target(id: first.id!))
        #expect(loading.state == .loading && loading.bytesDone == 100 && loading.attempts == 1, "its transfer's reports are progress")
        #expect(try await !database.grantLoad(targetID: second.id!, nodeID: nodes[1]), "the slot was not given back by a report")
        _ = try await database.updateTarget(id: first.id!, nodeID: nodes[0], to: .transferring, starting: true)
        #expect(try await database.target(id: first.id!)?.state == .transferring, "a restart gives the slot up")
        #expect(try await database.grantLoad(targetID: second.id!, nodeID: nodes[1]))
    }

    @Test func loadSlotsOfVanishedNodesComeBack() async throws {
        let (database, nodes, install, _) = try await Self.setUp(maxParallel: 1)
        let first = try await Self.target(database, install: install, node: nodes[0])
        let second = try await Self.target(database, install: install, node: nodes[1])
        for (target, node) in [(first, nodes[0]), (second, nodes[1])] {
            _ = try await database.updateTarget(id: target.id!, nodeID: node, to: .transferring)
            _ = try await database.updateTarget(id: target.id!, nodeID: node, to: .ready)
        }
        #expect(try await database.grantLoad(targetID: first.id!, nodeID: nodes[0]))
        #expect(try await !database.grantLoad(targetID: second.id!, nodeID: nodes[1]))
        #expect(try await database.releaseLoads(ofNodes: [nodes[0]]) == 1)
        #expect(try await database.target(id: first.id!)?.state == .ready)
        #expect(try await database.grantLoad(targetID: second.id!, nodeID: nodes[1]))
    }

    @Test func aFailedImageFailsItsTargetsAndTheInstallFinishes() async throws {
        let (database, _, install, image) = try await Self.setUp()
        try await database.markImageFailed(imageID: image.id!, error: FerryError(.manifestUnknown, "gone upstream"))
        let targets = try await database.targets(ofInstall: install.id!)
        #expect(targets.allSatisfy { $0.state == .failed && $0.errorCode == "MANIFEST_UNKNOWN" })
        let finished = try await database.finishInstalls()
        #expect(finished.map(\.id) == [install.id])
        #expect(try await database.install(id: install.id!)?.state == .failed)
    }

    /// Before, targets created on an image whose resolution under way failed just before (after
    /// the request set it `pending`) waited on a failed image that nothing fetched again.
    @Test func anInstallOnAnImageThatFailedSinceItsRequestFetchesItAgain() async throws {
        let database = try FerryDatabase.inMemory()
        let node = try await database.join(name: "a", address: nil, platform: "linux/amd64", credentialHash: "h").id!
        let image = try await database.requestImage(try ImageReference(parsing: "ghcr.io/o/app:1"), platform: try Platform(parsing: "linux/amd64"))
        try await database.markImageFailed(imageID: image.id!, error: FerryError(.upstreamUnreachable, "gone"))
        let install = try await database.createInstall(InstallRecord(maxParallel: 1, platform: nil, deadlineAt: nil), targets: [(node, [image.id!])])
        #expect(try await database.image(id: image.id!)?.state == .pending)
        #expect(try await database.targets(ofInstall: install.id!).map(\.state) == [.waiting])
    }

    @Test func anInstallWithEveryTargetDoneIsDone() async throws {
        let (database, nodes, install, _) = try await Self.setUp()
        #expect(try await database.finishInstalls().isEmpty)
        for node in nodes {
            let target = try await Self.target(database, install: install, node: node)
            _ = try await database.updateTarget(id: target.id!, nodeID: node, to: .done)
        }
        #expect(try await database.finishInstalls().count == 1)
        #expect(try await database.install(id: install.id!)?.state == .done)
        #expect(try await database.heldImages()[nodes[0]] == ["ghcr.io/o/app:1"])
    }

    @Test func thePastDeadlineFailsUnfinishedTargetsAsNotReached() async throws {
        let (database, nodes, install, _) = try await Self.setUp(deadline: Date().addingTimeInterval(60))
        let started = try await Self.target(database, install: install, node: nodes[0])
        _ = try await database.updateTarget(id: started.id!, nodeID: nodes[0], to: .transferring)
        let done = try await Self.target(database, install: install, node: nodes[1])
        _ = try await database.updateTarget(id: done.id!, nodeID: nodes[1], to: .done)
        #expect(try await database.expireInstalls(now: Date()) == 0, "not yet")
        #expect(try await database.expireInstalls(now: Date().addingTimeInterval(61)) == 2)
        let targets = try await database.targets(ofInstall: install.id!)
        #expect(targets.first { $0.nodeId == nodes[0] }?.errorMessage == "the node did not finish before the install deadline")
        #expect(targets.first { $0.nodeId == nodes[2] }?.errorMessage == "the node was not reached before the install deadline")
        #expect(targets.first { $0.nodeId == nodes[1] }?.state == .done)
        #expect(targets.filter { $0.errorCode == "NOT_REACHED" }.count == 2)
    }

    @Test func joiningAgainWithItsCredentialKeepsTheNodeAndReplacesItsCredential() async throws {
        let database = try FerryDatabase.inMemory()
        let first = try await database.join(name: "a", address: "http://a", platform: "linux/amd64", credentialHash: "one")
        let again = try await database.join(name: "a", address: "http://a2", platform: "linux/amd64", credentialHash: "two", proof: "one")
        #expect(first.id == again.id)
        #expect(try await database.node(credentialHash: "one") == nil)
        #expect(try await database.node(credentialHash: "two")?.address == "http://a2")
    }
}
