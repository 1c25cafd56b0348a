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

/// Followers serving each other: peer tokens, cut-through, failover, corrupt sources, metrics.
@Suite("Peer mesh", .serialized, .requiresRoot("dockerd"))
struct PeerTests {
    @Test("A peer answers only a valid, unexpired leader-signed token for the digest asked")
    func peerTokens() async throws {
        try await TestCluster.with("ptok", nodes: ["a"]) { cluster in
            let reference = try await cluster.push("demo/app:1", layers: [.init("pt", "1M")])
            #expect(try await cluster.ferry(["install", reference]).status == 0)
            let blobs = try #require(try await cluster.admin.image(id: 1).blobs)
            let layer = try FerryCore.Digest(parsing: try #require(blobs.max { $0.size < $1.size }).digest)
            let other = try FerryCore.Digest(parsing: try #require(blobs.min { $0.size < $1.size }).digest)
            let follower = try cluster.followerCurl("a")
            let url = "\(follower.base)/v2/demo/app/blobs/\(layer)"
            let key = try cluster.leaderPeerKey()
            let now = Int64(Date().timeIntervalSince1970)
            // Issued to node a and addressed to it, so that the test can present a's own certificate.
            func token(_ digest: FerryCore.Digest, exp: Int64 = now + 300, key: Curve25519.Signing.PrivateKey = key) throws -> String {
                try PeerToken.sign(PeerToken.Claims(node: "a", digest: digest, exp: exp, audience: "a"), with: key)
            }
            let directory = try #require(cluster.nodes["a"]?.directory)
            let certificate = follower.arguments + ["--cert", "\(directory)/tls.pem", "--key", "\(directory)/tls-key.pem"]
            func status(_ url: String, _ authorization: String?, withCertificate: Bool = true) async throws -> String {
                try await runProcess(
                    "/usr/bin/curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}"] + (withCertificate ? certificate : follower.arguments)
                        + (authorization.map { ["-H", "Authorization: \($0)"] } ?? []) + [url]).stdout
            }
            #expect(try await status(url, "Bearer \(try token(layer))", withCertificate: false) == "401", "no client certificate")
            #expect(try await status(url, nil) == "401")
            #expect(try await status(url, "Bearer not-a-token") == "401")
            #expect(try await status(url, "Bearer \(try token(layer, key: Curve25519.Signing.PrivateKey()))") == "401", "forged")
            #expect(try await status(url, "Bearer \(try token(layer, exp: now - 1))") == "401", "expired")
            #expect(try await status(url, "Bearer \(try token(other))") == "401", "another digest")
            #expect(try await status("\(follower.base)/v2/demo/app/manifests/1", "Bearer \(try token(layer))") == "401")
            #expect(try await status(url, "Bearer \(try token(layer))") == "200")
            let body = try await runProcess("/usr/bin/curl", ["-s"] + certificate + ["-H", "Authorization: Bearer \(try token(layer))", "-o", cluster.dir.sub("blob"), url])
            #expect(body.succeeded)
            #expect(FerryCore.Digest.sha256(of: try Data(contentsOf: URL(fileURLWithPath: cluster.dir.sub("blob")))) == layer)
            let ranged = try await runProcess(
                "/usr/bin/curl", ["-s"] + certificate + ["-o", "/dev/null", "-w", "%{http_code}", "-H", "Range: bytes=10-19", "-H", "Authorization: Bearer \(try token(layer))", url])
            #expect(ranged.stdout == "206")
            // Nothing but /healthz without a credential, metrics included.
            #expect(try await status("\(follower.base)/metrics", nil) == "401")
            #expect(try await status("\(follower.base)/healthz", nil) == "200")
        }
    }

    @Test("Peers serve each other by cut-through: one copy upstream, the leader's uplink about two")
    func peersServeEachOther() async throws {
        try await TestCluster.with("pserve", nodes: ["a", "b", "c"], leaderArguments: ["--upstream-rate", "16MiB/s"]) { cluster in
            // Counters are exported at 0 before their first event, as Prometheus expects.
            let fresh = try await cluster.leaderMetrics()
            for name in ["ferry_verification_failures_total", "ferry_pull_fallbacks_total", "ferry_mesh_reports_total{outcome=\"explained\"}"] {
                #expect(fresh[name] == 0, "\(name) on the leader")
            }
            #expect(try await cluster.metrics(of: "a")["ferry_source_failures_total{kind=\"stalled\"}"] == 0)
            let reference = try await cluster.push("demo/app:1", layers: [.init("ps1", "24M"), .init("ps2", "8M")])
            let result = try await cluster.ferry(["install", reference])
            #expect(result.status == 0, "\(result.stderr)")
            for node in ["a", "b", "c"] {
                #expect(try await cluster.engine(node).run(reference).stdout.contains("ferry-image demo/app:1 ok"))
            }
            let image = try #require(try await cluster.admin.images().images.first)
            let leader = try await cluster.leaderMetrics()
            #expect(leader["ferry_upstream_bytes_total"] == Double(image.size))
            #expect((leader["ferry_served_bytes_total"] ?? 0) <= Double(2 * image.size) + 1024)
            var fromPeers = 0.0
            for node in ["a", "b", "c"] {
                fromPeers += try await cluster.metrics(of: node)["ferry_received_bytes_total{source=\"peer\"}"] ?? 0
            }
            #expect(fromPeers >= Double(image.size) - 1024, "at least one node got the image from peers")
            #expect(try await cluster.registry.blobGets().values.allSatisfy { $0 == 1 })
        }
    }

    /// Nodes a and b: a holds a 24 MiB image and serves it at 4 MiB/s; b is installing it, is sent
    /// to a (a complete peer), and holds 4 MiB of it. Returns the image and b's install.
    static func receivingFromSlowPeer(_ cluster: TestCluster, layer: String) async throws -> (reference: String, install: InstallStatus) {
        let reference = try await cluster.push("demo/app:1", layers: [.init(layer, "24M")])
        #expect(try await cluster.ferry(["install", reference, "--nodes", "a"]).status == 0)
        await cluster.killFollower("a", signal: SIGTERM)
        try await cluster.startFollower("a", join: false, extraArguments: ["--max-upload-rate", "4MiB/s"])
        // a listens on a new port: b can be sent there once a's heartbeat told the leader.
        let address = cluster.followerAddress("a")
        try await waitUntil("the leader lists a reachable at \(address)", every: .milliseconds(100)) {
            let node = try await cluster.admin.nodes().nodes.first { $0.name == "a" }
            return node?.address == address && node?.state == .reachable
        }
        let accepted = try await cluster.admin.install(InstallRequest(images: [reference], nodes: ["b"]))
        _ = try await cluster.install(accepted.id, until: "b holds 4 MiB") {
            $0.targets.first?.bytesDone ?? 0 >= 4 * 1024 * 1024
        }
        return (reference, accepted)
    }

    @Test("A peer that dies mid-transfer: the receiver leaves it at once and resumes from another source at its offset")
    func peerDiesMidTransfer() async throws {
        try await TestCluster.with("pdie", nodes: ["a", "b"]) { cluster in
            let (reference, accepted) = try await Self.receivingFromSlowPeer(cluster, layer: "pd")
            // SIGKILL: the kernel closes a's connections, and its port refuses new ones. b leaves
            // it at once (a broken stream or a refused connection), not after the 5 s stall timeout.
            func failures(_ kind: String) async throws -> Double {
                try await cluster.metrics(of: "b")["ferry_source_failures_total{kind=\"\(kind)\"}"] ?? 0
            }
            let before = try await failures("failed") + failures("truncated")
            let killed = ContinuousClock.now
            await cluster.killFollower("a")
            try await waitUntil("b leaves the dead peer", timeout: .seconds(60), every: .milliseconds(20)) {
                try await failures("failed") + failures("truncated") > before
            }
            print("measured: b left the dead peer \(ContinuousClock.now - killed) after the SIGKILL")
            #expect(try await failures("stalled") == 0, "b waited for the stall timeout instead of leaving the dead peer at once")
            let followed = try await cluster.ferry(["status", "\(accepted.id)", "--follow"])
            #expect(followed.status == 0, "\(followed.stderr)")
            #expect(try await cluster.engine("b").run(reference).stdout.contains("ok"))
            // b got bytes from a, then the rest from the leader (the only other source) at its
            // offset: starting over would have taken at least the 4 MiB it held again.
            let image = try #require(try await cluster.admin.images().images.first)
            let metrics = try await cluster.metrics(of: "b")
            let fromPeer = metrics["ferry_received_bytes_total{source=\"peer\"}"] ?? 0
            let fromLeader = metrics["ferry_received_bytes_total{source=\"leader\"}"] ?? 0
            #expect(fromPeer > 0 && fromLeader > 0, "b received \(fromPeer) bytes from a peer, \(fromLeader) from the leader")
            #expect(fromPeer + fromLeader < Double(image.size + 4 * 1024 * 1024), "b received \(fromPeer + fromLeader) bytes for \(image.size)")
        }
    }

    @Test("A peer serving corrupt bytes: each receiver discards them and stops choosing it; two receivers' reports flag it, and the flagged node, asked to re-verify, drops its damaged copy")
    func corruptPeer() async throws {
        try await TestCluster.with("pbad", nodes: ["a", "b", "c"]) { cluster in
            // a's copy damaged behind its back: it still believes it holds the blob.
            let reference = try await cluster.pushInstalledAndDamaged("demo/app:1", layer: "pc", size: "4M", on: "a")
            let damaged = try cluster.largestBlob(on: "a")

            // One receiver's word excludes a for that receiver only: nobody is flagged yet.
            let first = try await cluster.ferry(["install", reference, "--nodes", "b"])
            #expect(first.status == 0, "\(first.stderr)")
            #expect(try await cluster.engine("b").run(reference).stdout.contains("ok"))
            #expect(try await cluster.admin.nodes().nodes.allSatisfy { $0.corruptTransfers == 0 })
            // A second receiver handed a, and failed by it, makes the quorum (docs/mesh.md, Evidence).
            let second = try await cluster.ferry(["install", reference, "--nodes", "c"])
            #expect(second.status == 0, "\(second.stderr)")
            #expect(try await cluster.engine("c").run(reference).stdout.contains("ok"))
            let nodes = try await cluster.admin.nodes().nodes
            #expect(nodes.first { $0.name == "a" }?.corruptTransfers ?? 0 >= 1)
            #expect(nodes.first { $0.name == "b" }?.corruptTransfers == 0)
            #expect(nodes.first { $0.name == "c" }?.corruptTransfers == 0)
            for node in ["b", "c"] {
                let metrics = try await cluster.metrics(of: node)
                #expect(metrics["ferry_verification_failures_total"] ?? 0 >= 1, "\(node) received a's corrupt bytes")
            }
            // Flagged, a is asked with its next heartbeat to hash its copy again: an honest node
            // whose disk damaged the blob drops it (a liar would not, and stays avoided).
            try await waitUntil("a drops its damaged copy", timeout: .seconds(30), every: .milliseconds(200)) {
                !FileManager.default.fileExists(atPath: damaged)
            }
            #expect(try await cluster.metrics(of: "a")["ferry_verification_failures_total"] ?? 0 >= 1)
            // The sound blobs it holds stay.
            #expect(try FileManager.default.contentsOfDirectory(atPath: cluster.dir.sub("node-a/store/blobs/sha256")).count >= 2)
        }
    }

    @Test("Upstream bytes that fail the digest while followers already receive them: every receiver discards, nothing is loaded")
    func corruptUpstreamDuringCutThrough() async throws {
        try await TestCluster.with("pupc", nodes: ["a"]) { cluster in
            let reference = try await cluster.push("demo/app:1", layers: [.init("pu", "12M")])
            var plan = FaultProxy.Plan()
            plan.corruptBlobs = true
            plan.blobRate = 6 * 1024 * 1024
            let proxy = try await FaultProxy.start(upstream: cluster.registry.url, plan: plan)
            defer { Task { await proxy.stop() } }
            let proxied = reference.replacingOccurrences(of: cluster.registry.host, with: proxy.host)
            let result = try await cluster.ferry(["install", proxied])
            #expect(result.status == 1)
            #expect(result.stderr.contains("DIGEST") || result.stderr.contains("does not match"), "\(result.stderr)")
            #expect(try await cluster.engine("a").imageID(proxied) == nil)
            // The follower received bytes by cut-through, then threw them away: nothing committed.
            let committed = (try? FileManager.default.contentsOfDirectory(atPath: cluster.dir.sub("node-a/store/blobs/sha256"))) ?? []
            let images = try await cluster.admin.images().images
            let layers = try await cluster.admin.image(id: try #require(images.first).id).blobs ?? []
            let big = layers.filter { $0.size > 1024 * 1024 }.map { String($0.digest.dropFirst(7)) }
            #expect(!big.isEmpty)
            #expect(Set(committed).isDisjoint(with: big))
        }
    }
}

extension TestCluster {
    func followerAddress(_ node: String) -> String {
        ((try? String(contentsOfFile: "\(nodes[node]!.directory)/address", encoding: .utf8)) ?? "").trimmingWhitespace()
    }

    /// A follower's base URL under its node name, the one name its certificate is sure to hold
    /// (it joined before it knew its port), with the curl arguments that reach it there.
    func followerCurl(_ node: String) throws -> (base: String, arguments: [String]) {
        let address = try NodeAddress(parsing: followerAddress(node))
        let base = "https://\(node):\(address.port)"
        return (base, ["--cacert", leader.caFile, "--resolve", "\(node):\(address.port):\(address.host)"])
    }

    func followerCredential(_ node: String) throws -> String {
        struct Identity: Decodable { var credential: String }
        return try JSONDecoder().decode(Identity.self, from: Data(contentsOf: URL(fileURLWithPath: "\(nodes[node]!.directory)/node.json")))
            .credential
    }

    func leaderPeerKey() throws -> Curve25519.Signing.PrivateKey {
        let hex = try String(contentsOfFile: "\(leader.dataDirectory)/peer-key", encoding: .utf8).trimmingWhitespace()
        let bytes = stride(from: 0, to: hex.count, by: 2).map { offset -> UInt8 in
            let start = hex.index(hex.startIndex, offsetBy: offset)
            return UInt8(hex[start..<hex.index(start, offsetBy: 2)], radix: 16)!
        }
        return try Curve25519.Signing.PrivateKey(rawRepresentation: bytes)
    }

    /// A node's `/metrics`, as `name{labels}` → value.
    func metrics(of node: String) async throws -> [String: Double] {
        let follower = try followerCurl(node)
        return try await Self.scrape(follower.base, token: followerCredential(node), ca: leader.caFile, arguments: follower.arguments)
    }

    /// The blob bytes a follower's process received since it started, from peers and the leader.
    func receivedBytes(of node: String) async throws -> Double {
        let metrics = try await metrics(of: node)
        return (metrics["ferry_received_bytes_total{source=\"peer\"}"] ?? 0) + (metrics["ferry_received_bytes_total{source=\"leader\"}"] ?? 0)
    }

    func leaderMetrics() async throws -> [String: Double] {
        try await Self.scrape(leader.url, token: leader.token, ca: leader.caFile)
    }

    static func scrape(_ base: String, token: String, ca: String, arguments: [String] = []) async throws -> [String: Double] {
        let text = try await runChecked("/usr/bin/curl", ["-sf", "--cacert", ca] + arguments + ["-H", "Authorization: Bearer \(token)", "\(base)/metrics"])
        var values: [String: Double] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { continue }
            values[String(line[..<space])] = value
        }
        return values
    }
}
