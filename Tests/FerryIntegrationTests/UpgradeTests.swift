import FerryCore
import FerryMesh
import FerryTestSupport
import Foundation
import Testing

/// Upgrades lose nothing: a data directory written by an earlier release keeps working with this
/// one. `Tests/Fixtures/upgrade/<release>/` holds the leader's and a follower's data directories as
/// that release left them (written by ``writeFixture()``, which runs only when asked), and
/// ``earlierReleaseDataDirectory(_:)`` starts today's binary on a copy of each.
@Suite("Upgrades", .serialized, .requiresRoot("dockerd"))
struct UpgradeTests {
    /// Releases whose data directories are committed.
    static let releases = ["0.1.0"]

    static func fixture(_ release: String) -> String { "\(RepositoryLayout.root)/Tests/Fixtures/upgrade/\(release)" }

    @Test("A data directory written by an earlier release keeps working", arguments: releases)
    func earlierReleaseDataDirectory(_ release: String) async throws {
        let dir = try TemporaryDirectory("upgrade")
        defer { dir.remove() }
        let source = Self.fixture(release)
        #expect(FileManager.default.fileExists(atPath: "\(source)/leader/state.db"), "missing fixture \(source)")
        for part in ["leader", "node-a"] {
            let copy = try await runProcess("/bin/cp", ["-a", "\(source)/\(part)", dir.sub(part)])
            #expect(copy.succeeded, "\(copy.stderr)")
        }
        let recorded = try JSONDecoder().decode(FixtureFacts.self, from: Data(contentsOf: URL(fileURLWithPath: "\(source)/facts.json")))
        let leader = try await LeaderProcess.start(dataDirectory: dir.sub("leader"))
        defer { Task { await leader.process.stop() } }
        let admin = AdminClient(baseURL: leader.url, token: leader.token, caFile: leader.caFile)

        // What the earlier release recorded is all there: the image, its blobs, the node.
        let images = try await admin.images().images
        let image = try #require(images.first { $0.reference == recorded.reference }, "the image fetched by \(release)")
        #expect(image.state == .present)
        #expect(image.manifestDigest == recorded.manifestDigest)
        let blobs = try #require(try await admin.image(id: image.id).blobs)
        #expect(blobs.count == recorded.blobs.count)
        for blob in blobs {
            #expect(blob.state == .present, "blob \(blob.digest)")
            let digest = try FerryCore.Digest(parsing: blob.digest)
            let stored = "\(dir.sub("leader"))/store/blobs/sha256/\(digest.encoded)"
            let data = try Data(contentsOf: URL(fileURLWithPath: stored))
            #expect(FerryCore.Digest.sha256(of: data) == digest, "stored blob intact")
        }
        #expect(try await admin.nodes().nodes.map(\.name) == ["a"])
        let installs = try await admin.installs().installs
        #expect(installs.count == 1 && installs.first?.state == .done)

        // The follower's identity from that release is still accepted: it comes back without the join
        // token. (A site's leader keeps its address; this test's leader has a new port, which the
        // follower would take for another leader, so its recorded leader URL is pointed at it.)
        let identityPath = dir.sub("node-a/node.json")
        var identity = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: identityPath))) as? [String: Any])
        identity["leader"] = leader.url
        try JSONSerialization.data(withJSONObject: identity).write(to: URL(fileURLWithPath: identityPath))
        let engine = try await TestDockerEngine.start(in: dir.sub("docker"))
        defer { Task { await engine.stop() } }
        let follower = try BackgroundProcess.spawn(
            RepositoryLayout.ferryBinary,
            ["follower", "--data-dir", dir.sub("node-a"), "--listen", "127.0.0.1:0", "--leader", leader.url, "--name", "a",
             "--docker-host", engine.host, "--log-level", "debug"],
            logPath: dir.sub("follower.log"))
        defer { Task { await follower.stop() } }
        let since = Date()
        try await waitUntil("the earlier release's follower heartbeats with its credential", timeout: .seconds(60)) {
            (try? await admin.nodes().nodes.first { $0.name == "a" }).map { $0.lastSeen > since } ?? false
        }

        // An install works from what that release left: the image it held goes into the node's
        // (new, empty) engine. Its registry is long gone: `--pull missing` installs the held tag
        // without asking it.
        let install = try await ferry(
            ["install", recorded.reference, "--nodes", "a", "--pull", "missing"],
            environment: ["FERRY_LEADER": leader.url, "FERRY_TOKEN": leader.token, "FERRY_CA": leader.caFile])
        #expect(install.status == 0, "\(install.stdout)\n\(install.stderr)")
        #expect(try await engine.run(recorded.reference).stdout.contains("ferry-image vendor/app:1.0 ok"))

        // And the earlier join token still admits a new node.
        let joined = try await MeshClient.join(
            baseURL: leader.url, joinToken: leader.joinToken, caFile: leader.caFile,
            JoinRequest(name: "b", address: nil, platform: Platform.host.description))
        #expect(joined.name == "b")
    }

    /// What the fixture's writer recorded about what it did.
    struct FixtureFacts: Codable {
        var release: String
        var reference: String
        var manifestDigest: String?
        var blobs: [String]
    }

    /// Writes `Tests/Fixtures/upgrade/<this release>/`: a leader that fetched an image and installed
    /// it on node `a` (with a real dockerd), both stopped cleanly. Run once per release:
    /// `FERRY_WRITE_UPGRADE_FIXTURE=1 swift test --filter UpgradeTests/writeFixture`.
    @Test(
        "Write this release's upgrade fixture (only when FERRY_WRITE_UPGRADE_FIXTURE is set)",
        .enabled(if: ProcessInfo.processInfo.environment["FERRY_WRITE_UPGRADE_FIXTURE"] != nil))
    func writeFixture() async throws {
        let target = Self.fixture(FerryVersion.current)
        try await TestCluster.with("fixture", nodes: ["a"]) { cluster in
            let reference = try await cluster.push("vendor/app:1.0", layers: [.init("up", "64K")])
            let result = try await cluster.ferry(["install", reference])
            #expect(result.status == 0, "\(result.stderr)")
            let image = try #require(try await cluster.admin.images().images.first)
            let blobs = try #require(try await cluster.admin.image(id: image.id).blobs).map(\.digest)
            await cluster.killFollower("a", signal: SIGTERM)
            await cluster.leader.process.stop()
            try? FileManager.default.removeItem(atPath: target)
            try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true)
            for (from, to) in [(cluster.leader.dataDirectory, "leader"), (cluster.nodes["a"]!.directory, "node-a")] {
                let copy = try await runProcess("/bin/cp", ["-a", from, "\(target)/\(to)"])
                #expect(copy.succeeded, "\(copy.stderr)")
            }
            // Logs, lock and address files are not state.
            for junk in ["leader/leader.log", "leader/address", "node-a/follower.log", "node-a/address", "leader/lock", "node-a/lock"] {
                try? FileManager.default.removeItem(atPath: "\(target)/\(junk)")
            }
            let facts = FixtureFacts(release: FerryVersion.current, reference: reference, manifestDigest: image.manifestDigest, blobs: blobs)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try encoder.encode(facts).write(to: URL(fileURLWithPath: "\(target)/facts.json"))
        }
    }
}
