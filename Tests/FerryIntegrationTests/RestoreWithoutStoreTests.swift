import FerryCore
import FerryMesh
import FerryTestSupport
import Foundation
import Testing

/// A leader backup restored without its store (docs/operations.md, "Backup and restore"): the
/// images it held are fetched again when asked for, not all at once at the first start.
@Suite("Leader restore without the store")
struct RestoreWithoutStoreTests {
    @Test("Held images are released at the restored leader's start, nothing is fetched upstream, and one asked for again is fetched")
    func restoredWithoutStore() async throws {
        try await withTemporaryDirectory("restore-nostore") { dir in
            try await TestRegistry.with(in: dir.sub("registry")) { registry in
                let references = ["\(registry.host)/demo/one:1", "\(registry.host)/demo/two:1"]
                try await TestImages.make(references[0], in: dir.path, layers: [.init("rn1", "512K")])
                try await TestImages.make(references[1], in: dir.path, layers: [.init("rn2", "512K")])
                let first = try await LeaderProcess.start(dataDirectory: dir.sub("leader"))
                var client = AdminClient(baseURL: first.url, token: first.token, caFile: first.caFile)
                let ids = try await client.fetch(FetchRequest(images: references)).images.map(\.id)
                try await waitUntil("both images held") { try await client.images().images.allSatisfy { $0.state == .present } }
                let backup = try await ferry(["leader", "backup", "--data-dir", first.dataDirectory, dir.sub("backup")])
                #expect(backup.status == 0, "\(backup.stderr)")
                await first.process.stop()

                let restored = dir.sub("restored")
                let restore = try await ferry(["leader", "restore", dir.sub("backup"), "--data-dir", restored])
                #expect(restore.status == 0 && restore.stdout.contains("fetched again when an install asks for them"), "\(restore.stdout)\(restore.stderr)")
                let gets = try await registry.blobGets()
                let leader = try await LeaderProcess.start(dataDirectory: restored, port: first.port)
                defer { Task { await leader.process.stop() } }
                client = AdminClient(baseURL: leader.url, token: leader.token, caFile: leader.caFile)
                try await waitUntil("both images released") {
                    try await client.images().images.allSatisfy { $0.state == .failed && $0.error?.message.contains("missing from the store") == true }
                }
                try await Task.sleep(for: .milliseconds(500))
                #expect(try await registry.blobGets() == gets, "the restored leader fetched upstream on its own")
                #expect(try await client.images().images.allSatisfy { $0.state == .failed })

                // One image asked for again: fetched, the other left alone.
                _ = try await client.fetch(FetchRequest(images: [references[0]]))
                try await waitUntil("the image asked for is held again") { try await client.image(id: ids[0]).state == .present }
                #expect(try await client.image(id: ids[1]).state == .failed)
                let after = try await registry.blobGets()
                #expect(after.values.reduce(0, +) > gets.values.reduce(0, +))
                await leader.process.stop()
            }
        }
    }
}
