import FerryCore
import FerryMesh
import FerryTestSupport
import Foundation
import Testing

extension PeerTests {
    /// A node that finds its copy of a blob damaged deletes it and tells the leader, so that while
    /// it fetches the blob again it is listed as receiving it, not as holding it: other nodes are
    /// sent to a node that holds the whole blob first.
    @Test("A node that finds its copy damaged is no longer listed as holding it while it fetches it again")
    func damagedCopyIsNoLongerListed() async throws {
        try await TestCluster.with("pgone", nodes: ["a", "b"]) { cluster in
            let reference = try await cluster.push("demo/app:1", layers: [.init("pgo", "4M")])
            #expect(try await cluster.ferry(["install", reference]).status == 0)
            let largest = try #require(try await cluster.admin.image(id: 1).blobs?.max { $0.size < $1.size })
            let layer = try Digest(parsing: largest.digest)
            // b serves slowly, so that a's second fetch (from b, a peer holding the whole blob) lasts.
            await cluster.killFollower("b", signal: SIGTERM)
            try await cluster.startFollower("b", join: false, extraArguments: ["--max-upload-rate", "256KiB/s"])
            try cluster.damageLargestBlob(on: "a")
            #expect(try await cluster.engine("a").docker(["rmi", reference]).succeeded)
            let witness = try await MaliciousNode.join(cluster, name: "w")
            try await witness.enlist(in: cluster, reference)

            #expect(try await cluster.ferry(["install", reference, "--nodes", "a", "--no-wait"]).status == 0)
            let partial = cluster.dir.sub("node-a/store/ingest/sha256/\(layer.encoded).partial")
            try await waitUntil("a fetches the layer again", timeout: .seconds(60)) {
                ((try? FileManager.default.attributesOfItem(atPath: partial)[.size] as? Int) ?? 0) > 0
            }
            // Held whole, a (serving no one) would come before b (serving a); receiving it, after b.
            var first: String?
            try await waitUntil("the witness is sent to b first", timeout: .seconds(5)) {
                first = try await witness.sources(for: layer, size: largest.size, repository: "demo/app").sources.first?.node
                return first == "b"
            }
            #expect(first == "b")
            try await waitUntil("a's install ends", timeout: .seconds(120)) { try await cluster.admin.install(id: 3).isFinished }
            #expect(try await cluster.admin.install(id: 3).state == .done)
            #expect(try await cluster.engine("a").run(reference).stdout.contains("ok"))
        }
    }
}
