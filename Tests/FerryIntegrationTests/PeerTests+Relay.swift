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
    /// `a` lies (its copy of a 4 MiB layer damaged behind its back) and serves slowly (about
    /// 32 s for the layer, so that `r` is still receiving it when a reader of `r`'s copy comes,
    /// however busy the machine); `r` starts installing the image (from `a`, a peer before the
    /// leader). Returns the image, its largest layer and that layer's digest.
    static func relayOfASlowLiar(_ cluster: TestCluster, layer name: String) async throws -> (String, BlobStatus, FerryCore.Digest) {
        let reference = try await cluster.pushInstalledAndDamaged("demo/app:1", layer: name, size: "4M", on: "a")
        await cluster.killFollower("a", signal: SIGTERM)
        try await cluster.startFollower("a", join: false, extraArguments: ["--max-upload-rate", "128KiB/s"])
        let largest = try #require(try await cluster.admin.image(id: 1).blobs?.max { $0.size < $1.size })
        #expect(try await cluster.ferry(["install", reference, "--nodes", "r", "--no-wait"]).status == 0)
        return (reference, largest, try FerryCore.Digest(parsing: largest.digest))
    }

    /// docs/mesh.md, *Evidence*: an honest node relaying what a lying peer sends it must never
    /// pass on a whole wrong blob, or its own receivers' first-hand reports would name it.
    @Test("An honest relay of a lying peer's bytes never sends the whole wrong blob: its reader's transfer breaks off before the last byte")
    func honestRelayHoldsBackTheLastByte() async throws {
        try await TestCluster.with("prelay", nodes: ["a", "r"]) { cluster in
            // a lies (its copy damaged behind its back) and serves slowly, so that r is still
            // receiving from it when r's own reader comes.
            let (reference, largest, layer) = try await Self.relayOfASlowLiar(cluster, layer: "prl")
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

    /// docs/mesh.md, *Evidence*, *Relays*: the relay's receiver sees its transfer break off (and
    /// may then hold bad bytes); the relay's own report about the blob explains that, whichever
    /// reaches the leader first, so the receiver does not count it against the relay.
    @Test("A relay fed by a liar is not blamed by its own receiver: the relay's report explains the cut, and the receiver ends with the right blob")
    func relayFedByALiarIsNotBlamed() async throws {
        // One slot per blob: the liar serves the relay only, so the receiver is sent to the relay.
        try await TestCluster.with("pblame", nodes: ["a", "r", "v"], leaderArguments: ["--peer-slots", "1"]) { cluster in
            let (reference, _, layer) = try await Self.relayOfASlowLiar(cluster, layer: "pbl")
            let partial = { (node: String) in cluster.dir.sub("node-\(node)/store/ingest/sha256/\(layer.encoded).partial") }
            let size = { (path: String) in (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0 }
            try await waitUntil("r receives the layer from a", timeout: .seconds(60)) { size(partial("r")) >= 256 * 1024 }
            #expect(try await cluster.ferry(["install", reference, "--nodes", "v", "--no-wait"]).status == 0)
            // From r, while r still receives from a: the story needs v's transfer from r cut by
            // r's discard (a v that came after it got 404 from r, and no report).
            try await waitUntil("v receives the layer from r", timeout: .seconds(60)) { size(partial("v")) > 0 }
            for id: Int64 in [2, 3] {
                try await waitUntil("install \(id) ends", timeout: .seconds(120)) { try await cluster.admin.install(id: id).isFinished }
                #expect(try await cluster.admin.install(id: id).state == .done)
            }
            for node in ["r", "v"] { #expect(try await cluster.engine(node).run(reference).stdout.contains("ok")) }
            let leader = try await cluster.leaderMetrics()
            let spared = (leader["ferry_mesh_reports_total{outcome=\"explained\"}"] ?? 0) + (leader["ferry_mesh_reports_total{outcome=\"withdrawn\"}"] ?? 0)
            let lines = (cluster.followerLog("v") + cluster.followerLog("r")).split(separator: "\n").filter {
                $0.contains("receiving blob") || $0.contains("source failed") || $0.contains("failed verification") || $0.contains("discarding")
            }
            #expect(spared >= 1, "v's report against r was counted: \(leader.filter { $0.key.hasPrefix("ferry_mesh_reports") }); \(lines.suffix(16).joined(separator: "\n"))")
        }
    }
}
