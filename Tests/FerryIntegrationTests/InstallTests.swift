import FerryCore
import FerryMesh
import FerryTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Cluster-wide installs with real processes: a leader, followers, a `dockerd` per node, and the
/// real registry upstream. Needs root (dockerd); CI runs as root.
@Suite("Cluster installs", .serialized, .requiresRoot("dockerd"))
struct InstallTests {
    static let base: [TestImages.Layer] = [.init("base", "8M"), .init("shared", "2M")]

    @Test("Two images sharing layers land in every engine, run, and cost one upstream GET per blob")
    func clusterInstall() async throws {
        try await TestCluster.with("inst", nodes: ["n1", "n2", "n3"], tokenAuth: true) { cluster in
            let one = try await cluster.push("demo/one:1", layers: Self.base + [.init("one", "2M")])
            let two = try await cluster.push("demo/two:1", layers: Self.base + [.init("two", "2M")])
            let result = try await cluster.ferry(["install", one, two, "--max-parallel", "2"])
            #expect(result.status == 0, "\(result.stdout)\n\(result.stderr)")
            #expect(result.stdout.contains("install 1 done: 6/6 done"))
            for name in ["n1", "n2", "n3"] {
                for (reference, repoTag) in [(one, "demo/one:1"), (two, "demo/two:1")] {
                    let run = try await cluster.engine(name).run(reference)
                    #expect(run.stdout.contains("ferry-image \(repoTag) ok"), "\(name): \(run.stderr)")
                }
            }
            // The upstream served every blob exactly once, whatever the number of nodes.
            let gets = try await cluster.registry.blobGets()
            #expect(gets.count == 7, "busybox, base, shared, one, two and two configs: \(gets)")
            #expect(gets.values.allSatisfy { $0 == 1 }, "\(gets)")

            let status = try await cluster.admin.install(id: 1)
            #expect(status.state == .done)
            #expect(status.targets.allSatisfy { $0.state == .done && $0.attempts == 1 }, "\(status.targets.map { "\($0.node) \($0.image) \($0.state) \($0.attempts) \($0.note ?? "")" })")
            let nodes = try await cluster.admin.nodes()
            #expect(nodes.nodes.map(\.name) == ["n1", "n2", "n3"])
            #expect(nodes.nodes.allSatisfy { $0.state == .reachable && $0.images.count == 2 && $0.dockerVersion != nil })

            // Idempotent: a second install finishes at once, confirming with each engine.
            let again = try await cluster.ferry(["install", one, two, "--json"])
            #expect(again.status == 0, "\(again.stderr)")
            let decoded = try FerryJSON.decoder().decode(InstallStatus.self, from: Data(again.stdout.utf8))
            #expect(decoded.targets.allSatisfy { $0.state == .done && $0.note == "already in the engine" })
            #expect(try await cluster.registry.blobGets() == gets)

            let listing = try await cluster.ferry(["nodes"])
            #expect(listing.stdout.contains("n2") && listing.stdout.contains("reachable"))
            let history = try await cluster.ferry(["status"])
            #expect(history.stdout.contains("done"))
        }
    }

    @Test("A wrong join token is refused with one clear line; a token naming another CA is refused before anything is sent")
    func wrongJoinToken() async throws {
        try await TestCluster.with("join", nodes: [], engines: []) { cluster in
            let real = try JoinToken(parsing: cluster.leader.joinToken)
            func join(_ token: String) async throws -> ProcessResult {
                try await runProcess(
                    RepositoryLayout.ferryBinary,
                    ["follower", "--data-dir", cluster.dir.sub("intruder"), "--leader", cluster.leader.url,
                     "--name", "intruder", "--listen", "127.0.0.1:0"],
                    environment: ["FERRY_JOIN_TOKEN": token])
            }
            let wrongSecret = try await join(JoinToken(secret: String(repeating: "ab", count: 32), caFingerprint: real.caFingerprint).description)
            #expect(wrongSecret.status == 1)
            #expect(wrongSecret.stderr.hasPrefix("ferry: error: the leader at \(cluster.leader.url) refused the join token"), "\(wrongSecret.stderr)")
            #expect(wrongSecret.stderr.split(separator: "\n").count == 1)
            let wrongCA = try await join(JoinToken(secret: real.secret, caFingerprint: String(repeating: "0", count: 64)).description)
            #expect(wrongCA.status == 1)
            #expect(wrongCA.stderr.contains("did not present the cluster CA named in the join token"), "\(wrongCA.stderr)")
            #expect(wrongCA.stderr.split(separator: "\n").count == 1)
            let garbage = try await join("not-a-token")
            #expect(garbage.stderr.contains("invalid join token"), "\(garbage.stderr)")
            #expect(!FileManager.default.fileExists(atPath: cluster.dir.sub("intruder/node.json")))
            #expect(try await cluster.admin.nodes().nodes.isEmpty)
            // Nothing but /healthz answers without a credential.
            let open = try await runProcess(
                "/usr/bin/curl", ["-s", "--cacert", cluster.leader.caFile, "-o", "/dev/null", "-w", "%{http_code}", cluster.leader.url + "/mesh/v1/work"])
            #expect(open.stdout == "401")
        }
    }

    @Test("An unknown node name is refused before anything starts")
    func unknownNode() async throws {
        try await TestCluster.with("unknown", nodes: ["n1"], engines: []) { cluster in
            let reference = try await cluster.push("demo/app:1", layers: [.init("u", "64K")])
            let result = try await cluster.ferry(["install", reference, "--nodes", "n1,ghost"])
            #expect(result.status == 1)
            #expect(result.stderr.contains("unknown node 'ghost'; known nodes: n1"), "\(result.stderr)")
            #expect(try await cluster.admin.installs().installs.isEmpty)
        }
    }

    @Test("A missing image fails everywhere with the registry's reason; an unreachable engine fails only its node")
    func partialFailures() async throws {
        try await TestCluster.with("partial", nodes: ["good", "bad"], engines: ["good"]) { cluster in
            let reference = try await cluster.push("demo/app:1", layers: [.init("p1", "1M")])
            let missing = "\(cluster.registry.host)/demo/app:missing"
            let result = try await cluster.ferry(["install", reference, missing, "--json"])
            #expect(result.status == 1)
            let status = try FerryJSON.decoder().decode(InstallStatus.self, from: Data(result.stdout.utf8))
            #expect(status.state == .failed)
            func target(_ node: String, _ image: String) -> TargetStatus? {
                status.targets.first { $0.node == node && $0.image == image }
            }
            #expect(target("good", reference)?.state == .done)
            #expect(target("bad", reference)?.state == .failed)
            #expect(target("bad", reference)?.error?.code == "DOCKER_UNREACHABLE")
            #expect(target("bad", reference)?.error?.message.contains(cluster.dir.sub("no-such-docker.sock")) == true)
            for node in ["good", "bad"] {
                #expect(target(node, missing)?.state == .failed)
                #expect(target(node, missing)?.error?.code == "MANIFEST_UNKNOWN", "\(String(describing: target(node, missing)?.error))")
            }
            #expect(try await cluster.engine("good").run(reference).stdout.contains("ferry-image demo/app:1 ok"))
        }
    }

    @Test("A blob corrupted in a follower's store is fetched again, never loaded")
    func corruptedBlob() async throws {
        try await TestCluster.with("corrupt", nodes: ["n1"]) { cluster in
            let reference = try await cluster.push("demo/app:1", layers: [.init("c1", "2M")])
            #expect(try await cluster.ferry(["install", reference]).status == 0)
            // Break the biggest layer in the follower's store, and remove the image from the engine.
            let blobs = cluster.dir.sub("node-n1/store/blobs/sha256")
            let biggest = try FileManager.default.contentsOfDirectory(atPath: blobs).max {
                (try? FileManager.default.attributesOfItem(atPath: "\(blobs)/\($0)")[.size] as? Int) ?? 0
                    < (try? FileManager.default.attributesOfItem(atPath: "\(blobs)/\($1)")[.size] as? Int) ?? 0
            }!
            let handle = try FileHandle(forUpdating: URL(fileURLWithPath: "\(blobs)/\(biggest)"))
            try handle.seek(toOffset: 1000)
            try handle.write(contentsOf: Data([0x42, 0x42, 0x42, 0x42]))
            try handle.close()
            #expect(try await cluster.engine("n1").docker(["rmi", reference]).succeeded)
            let receivedBefore = try await cluster.receivedBytes(of: "n1")

            let result = try await cluster.ferry(["install", reference])
            #expect(result.status == 0, "\(result.stderr)")
            #expect(try await cluster.engine("n1").run(reference).stdout.contains("ferry-image demo/app:1 ok"))
            let digest = try Digest(parsing: "sha256:\(biggest)")
            let data = try Data(contentsOf: URL(fileURLWithPath: "\(blobs)/\(biggest)"))
            #expect(Digest.sha256(of: data) == digest)
            // Found corrupt and fetched again: the follower received the blob a second time.
            let received = try await cluster.receivedBytes(of: "n1") - receivedBefore
            #expect(received >= Double(data.count), "n1 received \(received) bytes; the corrupt blob has \(data.count)")
        }
    }

    @Test("A node offline when the install starts gets its images when it returns; a deadline gives up on it")
    func offlineNode() async throws {
        try await TestCluster.with("offline", nodes: ["up", "away"]) { cluster in
            let reference = try await cluster.push("demo/app:1", layers: [.init("o1", "1M")])
            await cluster.killFollower("away", signal: SIGTERM)
            let accepted = try await cluster.admin.install(InstallRequest(images: [reference]))
            // The node that is up finishes; the other waits.
            var status = accepted
            let deadline = ContinuousClock.now + .seconds(60)
            while status.targets.first(where: { $0.node == "up" })?.state != .done, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(200))
                status = try await cluster.admin.install(id: accepted.id)
            }
            #expect(status.targets.first { $0.node == "up" }?.state == .done)
            #expect(status.targets.first { $0.node == "away" }?.state == .waiting)
            #expect(status.state == .running)
            // It comes back (its credential is kept; no join token needed) and catches up.
            try await cluster.startFollower("away", join: false)
            let followed = try await cluster.ferry(["status", "\(accepted.id)", "--follow"])
            #expect(followed.status == 0, "\(followed.stderr)")
            #expect(try await cluster.engine("away").run(reference).stdout.contains("ok"))

            // Offline past an install's deadline: reported as not reached.
            await cluster.killFollower("away", signal: SIGTERM)
            let other = try await cluster.push("demo/other:1", layers: [.init("o2", "64K")])
            let late = try await cluster.ferry(["install", other, "--deadline", "4s"])
            #expect(late.status == 1)
            #expect(late.stderr.contains("away: \(other): the node was not reached before the install deadline"), "\(late.stderr)")
            let nodes = try await cluster.admin.nodes()
            #expect(nodes.nodes.first { $0.name == "up" }?.state == .reachable)
        }
    }

    @Test("A leader killed with SIGKILL mid-install resumes on restart; the install completes")
    func leaderKilled() async throws {
        try await TestCluster.with("lkill", nodes: ["n1", "n2"], leaderArguments: ["--upstream-rate", "6MiB/s"]) { cluster in
            let reference = try await cluster.push("demo/big:1", layers: [.init("lk1", "16M"), .init("lk2", "8M")])
            let accepted = try await cluster.admin.install(InstallRequest(images: [reference]))
            // Kill the leader while it is still fetching from upstream.
            try await waitUntil("the leader holds 6 MiB", timeout: .seconds(120), every: .milliseconds(100)) {
                try await cluster.admin.images().images.first?.bytesDone ?? 0 >= 6 * 1024 * 1024
            }
            await cluster.killLeader()
            try await cluster.restartLeader()
            let followed = try await cluster.ferry(["status", "\(accepted.id)", "--follow", "--json"])
            #expect(followed.status == 0, "\(followed.stderr)")
            for node in ["n1", "n2"] {
                #expect(try await cluster.engine(node).run(reference).stdout.contains("ferry-image demo/big:1 ok"))
            }
            // Upstream: every blob was sent whole once (200) and, if the kill cut it, resumed (206):
            // never fetched again from the start. (The registry's byte counts include what sat in
            // kernel socket buffers when the leader died, so they are not compared.)
            let log = try String(contentsOfFile: "\(cluster.registry.directory)/registry.log", encoding: .utf8)
            let image = try #require(try await cluster.admin.images().images.first)
            let detail = try await cluster.admin.image(id: image.id)
            for blob in try #require(detail.blobs) {
                let lines = log.split(separator: "\n").filter { $0.contains("\"GET /v2/demo/big/blobs/\(blob.digest) ") }
                #expect(lines.filter { $0.contains("\" 200 ") }.count == 1, "\(blob.digest): \(lines)")
                #expect(lines.count <= 2, "\(blob.digest): \(lines)")
            }
            #expect(log.contains("\" 206 "), "the cut blob was resumed with Range")
        }
    }

    @Test("A follower killed with SIGKILL mid-blob resumes with Range on restart")
    func followerKilled() async throws {
        try await TestCluster.with("fkill", nodes: ["n1"]) { cluster in
            let reference = try await cluster.push("demo/big:1", layers: [.init("fk1", "24M")])
            await cluster.killFollower("n1", signal: SIGTERM)
            try await cluster.startFollower("n1", join: false, extraArguments: ["--max-download-rate", "8MiB/s"])
            let accepted = try await cluster.admin.install(InstallRequest(images: [reference]))
            #expect(accepted.targets.first?.state != .done)
            _ = try await cluster.install(accepted.id, until: "n1 holds 6 MiB") { status in
                let reached = status.targets.first?.bytesDone ?? 0 >= 6 * 1024 * 1024
                if !reached { #expect(status.targets.first?.state != .done) }
                return reached
            }
            await cluster.killFollower("n1")
            try await cluster.startFollower("n1", join: false)
            let followed = try await cluster.ferry(["status", "\(accepted.id)", "--follow"])
            #expect(followed.status == 0, "\(followed.stderr)")
            #expect(try await cluster.engine("n1").run(reference).stdout.contains("ferry-image demo/big:1 ok"))
            // Resumed at its offset: the restarted process received less than the layer (a
            // download started over would have received all of it again).
            let image = try #require(try await cluster.admin.images().images.first)
            let layer = try #require(try await cluster.admin.image(id: image.id).blobs?.max { $0.size < $1.size })
            let received = try await cluster.receivedBytes(of: "n1")
            #expect(received > 0 && received < Double(layer.size), "n1 received \(received) bytes since its restart; the layer has \(layer.size)")
            let final = try await cluster.admin.install(id: accepted.id)
            #expect(final.targets.first?.attempts == 2)
        }
    }
}
