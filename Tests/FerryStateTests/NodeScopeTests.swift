import FerryCore
import FerryState
import Foundation
import Testing

/// What a node credential may read from the leader: the blobs and manifests of the images it is
/// installing or holds, nothing else.
@Suite("FerryDatabase node read scope")
struct NodeScopeTests {
    typealias F = StateFixtures

    @Test func aNodeReadsOnlyTheContentOfItsOwnUnfailedTargets() async throws {
        let database = try FerryDatabase.inMemory()
        let a = try #require(try await database.join(name: "a", address: nil, platform: "linux/amd64", credentialHash: "ha").id)
        let b = try #require(try await database.join(name: "b", address: nil, platform: "linux/amd64", credentialHash: "hb").id)
        let image = try await database.storePresentImage("ghcr.io/o/app:1")
        let other = F.digest("9")
        // No install yet: nothing.
        #expect(try await !database.node(a, mayRead: F.layer1.digest))
        let install = try await database.createInstall(InstallRecord(maxParallel: 1, platform: nil, deadlineAt: nil), targets: [(a, [image.id!])])
        // Installing: every blob and both manifests (index and image manifest); not another digest, not another node.
        for digest in [F.config.digest, F.layer1.digest, F.layer2.digest, F.digest("a"), F.digest("b")] {
            #expect(try await database.node(a, mayRead: digest), "\(digest)")
            #expect(try await !database.node(b, mayRead: digest), "\(digest)")
        }
        #expect(try await !database.node(a, mayRead: other))
        // Held (done): still readable. Failed: no longer.
        let target = try #require(try await database.targets(ofInstall: install.id!).first)
        _ = try await database.updateTarget(id: target.id!, nodeID: a, to: .done)
        #expect(try await database.node(a, mayRead: F.layer2.digest))
        let second = try await database.createInstall(InstallRecord(maxParallel: 1, platform: nil, deadlineAt: nil), targets: [(b, [image.id!])])
        let failed = try #require(try await database.targets(ofInstall: second.id!).first)
        _ = try await database.updateTarget(id: failed.id!, nodeID: b, to: .failed)
        #expect(try await !database.node(b, mayRead: F.layer2.digest))
    }
}
