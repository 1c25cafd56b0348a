import FerryCore
import FerryMesh
import FerryTestSupport
import Foundation
import Testing

/// The leader re-verifies its own copy when a node accuses it first-hand (docs/mesh.md, *Evidence*).
extension SecurityTests {
    @Test("A leader copy that fails re-verification after a first-hand accusation is fetched again from upstream")
    func leaderCopyRefetched() async throws {
        try await TestCluster.with("secrefetch", nodes: []) { cluster in
            let reference = try await cluster.push("demo/refetch:1", layers: [.init("rf1", "1M")])
            let blobs = try await cluster.fetchedBlobs(reference)
            let layer = try #require(blobs.max { $0.size < $1.size })
            // The leader's copy rots on disk.
            let path = "\(cluster.leader.dataDirectory)/store/blobs/sha256/\(layer.digest.encoded)"
            var bytes = try #require(FileManager.default.contents(atPath: path))
            bytes[bytes.count / 2] ^= 0xFF
            try bytes.write(to: URL(fileURLWithPath: path))
            func holdsGoodCopy() -> Bool {
                FileManager.default.contents(atPath: path).map { FerryCore.Digest.sha256(of: [UInt8]($0)) == layer.digest } ?? false
            }
            #expect(!holdsGoodCopy())

            // A node handed the leader as a source reports its bytes wrong.
            let witness = try await MaliciousNode.join(cluster, name: "witness")
            try await witness.enlist(in: cluster, reference)
            let sources = try await witness.sources(for: layer.digest, size: layer.size, repository: "demo/refetch").sources
            #expect(sources.first?.kind == .leader, "\(sources)")
            try await witness.report([BlobEvent(digest: layer.digest, kind: .corrupt, size: layer.size, sources: ["leader"])])
            try await waitUntil("the leader to hold a good copy again") { holdsGoodCopy() }
        }
    }
}
