import Crypto
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
    /// docs/mesh.md, *Evidence*: an honest node relaying what a lying peer sends it must never
    /// pass on a whole wrong blob, or its own receivers' first-hand reports would name it.
    @Test("An honest relay of a lying peer's bytes never sends the whole wrong blob: its reader's transfer breaks off before the last byte")
    func honestRelayHoldsBackTheLastByte() async throws {
        try await TestCluster.with("prelay", nodes: ["a", "r"]) { cluster in
            // a lies (its copy damaged behind its back) and serves slowly, so that r is still
            // receiving from it when r's own reader comes.
            let reference = try await cluster.pushInstalledAndDamaged("demo/app:1", layer: "prl", size: "4M", on: "a")
            await cluster.killFollower("a", signal: SIGTERM)
            try await cluster.startFollower("a", join: false, extraArguments: ["--max-upload-rate", "512KiB/s"])
            let largest = try #require(try await cluster.admin.image(id: 1).blobs?.max { $0.size < $1.size })
            let layer = try FerryCore.Digest(parsing: largest.digest)
            #expect(try await cluster.ferry(["install", reference, "--nodes", "r", "--no-wait"]).status == 0)
            let partial = cluster.dir.sub("node-r/store/ingest/sha256/\(layer.encoded).partial")
            try await waitUntil("r receives the layer from a", timeout: .seconds(60)) {
                ((try? FileManager.default.attributesOfItem(atPath: partial)[.size] as? Int) ?? 0) >= 256 * 1024
            }
            // A reader of r's copy while it arrives (a's certificate and a token for r, as the
            // leader would issue them).
            let relay = try cluster.followerCurl("r")
            let now = Int64(Date().timeIntervalSince1970)
            let token = try PeerToken.sign(PeerToken.Claims(node: "a", digest: layer, exp: now + 300, audience: "r"), with: cluster.leaderPeerKey())
            let directory = try #require(cluster.nodes["a"]?.directory)
            let output = cluster.dir.sub("relayed")
            let read = try await runProcess(
                "/usr/bin/curl",
                ["-s", "--max-time", "60", "--cert", "\(directory)/tls.pem", "--key", "\(directory)/tls-key.pem"] + relay.arguments
                    + ["-H", "Authorization: Bearer \(token)", "-o", output, "\(relay.base)/v2/demo/app/blobs/\(layer)"])
            let received = (try? Data(contentsOf: URL(fileURLWithPath: output))) ?? Data()
            #expect(Int64(received.count) < largest.size, "r passed on the whole wrong blob (curl exit \(read.status))")
            #expect(!read.succeeded, "the transfer broke off")
            // r itself ends with the right image, from the leader.
            try await waitUntil("r's install ends", timeout: .seconds(120)) { try await cluster.admin.install(id: 2).isFinished }
            #expect(try await cluster.admin.install(id: 2).state == .done)
            #expect(try await cluster.engine("r").run(reference).stdout.contains("ok"))
        }
    }
}
