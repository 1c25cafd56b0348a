import FerryCore
import FerryFormats
import FerryMesh
import FerryTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

extension PeerTests {
    /// `--max-upload-rate` is one budget shared by every transfer a node serves. Each transfer
    /// waits for its share in small slices: a whole 1 MiB read's wait behind the others' would
    /// leave a reader without a byte for longer than the 5 s stall timeout at a low rate, and the
    /// node's receivers would report an honest node stalled.
    @Test("A node at a low --max-upload-rate serves several readers at once, each a little at a time, none left silent")
    func lowUploadRateSharesItsBudgetInSlices() async throws {
        try await TestCluster.with("prate", nodes: ["a", "b"]) { cluster in
            let reference = try await cluster.push("demo/app:1", layers: [.init("prt", "4M")])
            #expect(try await cluster.ferry(["install", reference, "--nodes", "a"]).status == 0)
            let largest = try #require(try await cluster.admin.image(id: 1).blobs?.max { $0.size < $1.size })
            let layer = try FerryCore.Digest(parsing: largest.digest)
            await cluster.killFollower("a", signal: SIGTERM)
            try await cluster.startFollower("a", join: false, extraArguments: ["--max-upload-rate", "128KiB/s"])
            // Four readers of a's copy at once for 8 s (b's certificate and tokens, as the leader
            // would issue them): 1 MiB at 128 KiB/s in all.
            let source = try cluster.followerCurl("a")
            let token = try PeerToken.sign(
                PeerToken.Claims(node: "b", digest: layer, exp: Int64(Date().timeIntervalSince1970) + 300, audience: "a"), with: cluster.leaderPeerKey())
            let directory = try #require(cluster.nodes["b"]?.directory)
            let received = try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<4 {
                    group.addTask {
                        let read = try await runProcess(
                            "/usr/bin/curl",
                            ["-s", "--max-time", "8", "-o", "/dev/null", "-w", "%{size_download}", "--cert", "\(directory)/tls.pem", "--key", "\(directory)/tls-key.pem"]
                                + source.arguments + ["-H", "Authorization: Bearer \(token)", "\(source.base)/v2/demo/app/blobs/\(layer)"])
                        return Int(read.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            // Shared fairly, each reader got about a quarter of 1 MiB, and never waited long.
            #expect(received.reduce(0, +) <= 1536 * 1024, "the budget holds: \(received)")
            #expect(received.allSatisfy { $0 >= 128 * 1024 }, "every reader is served a little at a time: \(received)")
        }
    }
}
