import FerryCoordinator
import FerryCore
import FerryMesh
import FerryTestSupport
import Foundation
import Testing

/// `ferry leader backup` and `restore` with real processes (docs/operations.md, "Backup and
/// restore"). Needs root (dockerd).
@Suite("Leader backup and restore", .serialized, .requiresRoot("dockerd"))
struct BackupTests {
    @Test("A backup taken mid-install, restored into a new directory on the same port: followers reconnect, the install completes, nothing the store held is fetched again")
    func backupDuringInstall() async throws {
        // The upstream rate cap keeps the fetch going long enough to back up in the middle of it.
        try await TestCluster.with("backup", nodes: ["n1", "n2"], leaderArguments: ["--upstream-rate", "2MiB/s"]) { cluster in
            let reference = try await cluster.push("demo/app:1", layers: [.init("bsmall", "256K"), .init("bbig", "12M")])
            let started = try await cluster.ferry(["install", reference, "--no-wait"])
            #expect(started.status == 0, "\(started.stderr)")
            #expect(started.stdout == "1\n", "--no-wait prints the install's ID alone: \(started.stdout)")
            try await waitUntil("some blobs are present and others not yet", timeout: .seconds(120)) {
                guard let image = try await cluster.admin.images().images.first, image.state == .fetching else { return false }
                let blobs = try await cluster.admin.image(id: image.id).blobs ?? []
                return blobs.contains { $0.state == .present } && blobs.contains { $0.state != .present }
            }
            let backup = cluster.dir.sub("leader-backup")
            let made = try await cluster.ferry(["leader", "backup", "--data-dir", cluster.leader.dataDirectory, "--with-store", backup])
            #expect(made.status == 0, "\(made.stderr)")
            await cluster.killLeader()
            let gets = try await cluster.registry.blobGets()
            let manifest = try LeaderBackup.readManifest(backup)
            let backedUp = manifest.entries.compactMap { entry -> Digest? in
                guard entry.path.hasPrefix("store/blobs/sha256/") else { return nil }
                return try? Digest(parsing: "sha256:" + entry.path.split(separator: "/").last!)
            }
            #expect(!backedUp.isEmpty)

            let restored = cluster.dir.sub("leader-restored")
            let restore = try await cluster.ferry(["leader", "restore", backup, "--data-dir", restored])
            #expect(restore.status == 0, "\(restore.stderr)")
            try await cluster.restartLeader(dataDirectory: restored)

            try await waitUntil("the install completes on the restored leader", timeout: .seconds(180)) {
                try await cluster.admin.install(id: 1).isFinished
            }
            let status = try await cluster.admin.install(id: 1)
            #expect(status.state == .done, "\(status.targets.map { "\($0.node) \($0.state) \($0.error?.message ?? "")" })")
            let nodes = try await cluster.admin.nodes().nodes
            #expect(nodes.map(\.name) == ["n1", "n2"] && nodes.allSatisfy { $0.state == .reachable })
            for name in ["n1", "n2"] {
                #expect(try await cluster.engine(name).run(reference).stdout.contains("ferry-image demo/app:1 ok"))
            }
            let after = try await cluster.registry.blobGets()
            for digest in backedUp { #expect(after[digest] == gets[digest], "\(digest) was fetched again: \(after)") }
        }
    }

    @Test("Bad inputs: an existing backup path, a non-empty data directory, a truncated backup: one line each, exit 1")
    func badInputs() async throws {
        try await TestCluster.with("backupbad", nodes: [], engines: []) { cluster in
            let backup = cluster.dir.sub("b1")
            let first = try await cluster.ferry(["leader", "backup", "--data-dir", cluster.leader.dataDirectory, backup])
            #expect(first.status == 0, "\(first.stderr)")
            let again = try await cluster.ferry(["leader", "backup", "--data-dir", cluster.leader.dataDirectory, backup])
            #expect(again.status == 1)
            #expect(again.stderr.contains("already exists") && again.stderr.split(separator: "\n").count == 1, "\(again.stderr)")

            let occupied = try await cluster.ferry(["leader", "restore", backup, "--data-dir", cluster.leader.dataDirectory])
            #expect(occupied.status == 1)
            #expect(occupied.stderr.contains("is not empty") && occupied.stderr.split(separator: "\n").count == 1, "\(occupied.stderr)")

            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: "\(backup)/state.db"))
            try handle.truncate(atOffset: 4096)
            try handle.close()
            let target = cluster.dir.sub("new-leader")
            let truncated = try await cluster.ferry(["leader", "restore", backup, "--data-dir", target])
            #expect(truncated.status == 1)
            #expect(truncated.stderr.contains("damaged") && truncated.stderr.contains("truncated"), "\(truncated.stderr)")
            #expect(truncated.stderr.split(separator: "\n").count == 1)
            #expect(!FileManager.default.fileExists(atPath: target))
        }
    }
}

