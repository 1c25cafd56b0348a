import FerryCore
import FerryMesh
import FerryStore
import FerryTestSupport
import Foundation
import Synchronization
import Testing

/// A follower as its node's registry mirror: containerd (`hosts.toml` written by
/// `ferry follower --containerd-hosts-dir`) pulls an image the node holds, by tag, from the
/// follower's loopback registry without a single request upstream.
@Suite("Node mirror", .serialized, .requiresRoot("dockerd, containerd"))
struct MirrorTests {
    /// Requests the upstream registry answered on `/v2/` (its access log), whatever their kind.
    static func upstreamRequests(_ registry: TestRegistry) -> Int {
        let log = (try? String(contentsOfFile: "\(registry.directory)/registry.log", encoding: .utf8)) ?? ""
        return log.split(separator: "\n").filter { $0.contains("\"GET /v2") || $0.contains("\"HEAD /v2") }.count
    }

    /// A node's follower as containerd's mirror, once it holds an image.
    struct InstalledMirror {
        /// `--containerd-hosts-dir`, and the registry's `hosts.toml` in it with its text.
        let hostsDirectory: String
        let hostsFile: String
        let hosts: String
        /// The loopback registry (`http://127.0.0.1:PORT`) and the `Authorization` header containerd sends it, from `hosts.toml`.
        let url: String
        let authorization: String
    }

    /// A one-node cluster whose follower runs with `--containerd-hosts-dir`, `push`'s image
    /// installed on it, and the `hosts.toml` the follower wrote for its registry.
    static func withMirror(
        _ label: String, followerArguments: (TestCluster) -> [String] = { _ in [] }, push: (TestCluster) async throws -> String,
        _ body: (TestCluster, String, InstalledMirror) async throws -> Void
    ) async throws {
        try await TestCluster.with(label, nodes: ["n1"]) { cluster in
            let hostsDirectory = cluster.dir.sub("certs.d")
            await cluster.killFollower("n1")
            try await cluster.startFollower("n1", extraArguments: ["--containerd-hosts-dir", hostsDirectory] + followerArguments(cluster))
            let reference = try await push(cluster)
            let install = try await cluster.ferry(["install", reference])
            #expect(install.status == 0, "\(install.stdout)\n\(install.stderr)")
            // The follower writes the registry's hosts.toml once the image is held.
            let hostsFile = "\(hostsDirectory)/\(cluster.registry.host)/hosts.toml"
            try await waitUntil("the follower to write \(hostsFile)") { FileManager.default.fileExists(atPath: hostsFile) }
            let hosts = try String(contentsOfFile: hostsFile, encoding: .utf8)
            let lines = hosts.split(separator: "\n")
            let url = try #require(lines.first { $0.hasPrefix("[host.\"http://127.0.0.1:") }.map { String($0.dropFirst("[host.\"".count).prefix { $0 != "\"" }) })
            let authorization = try #require(lines.first { $0.contains("Authorization = ") }.map { String($0.split(separator: "\"")[1]) })
            try await body(
                cluster, reference,
                InstalledMirror(hostsDirectory: hostsDirectory, hostsFile: hostsFile, hosts: hosts, url: url, authorization: authorization))
        }
    }

    @Test("containerd pulls an image the node holds through its follower, by tag, with zero requests upstream")
    func containerdPullsThroughFollower() async throws {
        try await Self.withMirror("mirror", push: { try await $0.push("demo/mirror:1", layers: [.init("m1", "1M"), .init("m2", "512K")]) }) {
            cluster, reference, installed in
            let (hostsDirectory, hosts, mirror) = (installed.hostsDirectory, installed.hosts, installed.url)
            // hosts.toml holds the credential: owner-only.
            let attributes = try FileManager.default.attributesOfItem(atPath: installed.hostsFile)
            #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)
            // A loopback registry speaks plain HTTP (as Docker and Ferry's own client assume).
            #expect(hosts.contains("server = \"http://\(cluster.registry.host)\""), "\(hosts)")
            #expect(hosts.contains("capabilities = [\"pull\", \"resolve\"]"), "\(hosts)")
            #expect(installed.authorization.hasPrefix("Bearer "), "\(hosts)")

            // The loopback registry refuses a request without the node's credential.
            let anonymous = try await runProcess("/usr/bin/curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "\(mirror)/v2/"])
            #expect(anonymous.stdout == "401")

            try await withTemporaryDirectory("ctd") { scratch in
                let containerd = try await TestContainerd.start(in: scratch.sub("c"))
                do {
                    let before = Self.upstreamRequests(cluster.registry)
                    let pull = try await containerd.ctr(["images", "pull", "--hosts-dir", hostsDirectory, "--snapshotter", "native", reference])
                    #expect(pull.succeeded, "\(pull.stdout)\n\(pull.stderr)")
                    #expect(Self.upstreamRequests(cluster.registry) == before, "containerd went upstream")

                    // The image containerd holds is the one the cluster installed: same manifest, same config (the engine's image ID).
                    let listing = try await containerd.ctr(["images", "ls"])
                    let row = try #require(listing.stdout.split(separator: "\n").first { $0.hasPrefix(reference + " ") }, "\(listing.stdout)")
                    let engineID = try #require(try await cluster.engine("n1").imageID(reference))
                    let config = try await containerd.ctr(["images", "check"])
                    #expect(config.succeeded && config.stdout.contains("complete"), "\(config.stdout)")
                    let held = try await cluster.admin.images().images.first { $0.reference == reference }
                    #expect(held?.manifestDigest.map { row.contains($0) } == true, "\(row) vs \(String(describing: held))")
                    let inspect = try await containerd.ctr(["content", "get", engineID])
                    #expect(inspect.succeeded, "the engine's image ID is the config containerd pulled: \(inspect.stderr)")
                } catch {
                    await containerd.stop()
                    throw error
                }
                await containerd.stop()
            }
        }
    }

    /// A node's collection removes the blobs of an image it keeps no more, while the leader still
    /// answers that image's tag for the node. Before, containerd got the manifest from its mirror
    /// and every removed blob from the upstream.
    @Test("containerd pulls an image whose blobs the node's collection removed: they come from the mesh, zero requests upstream")
    func collectedBlobsComeFromTheMesh() async throws {
        try await Self.withMirror(
            "mirror-gc", push: { try await $0.push("demo/kept:1", layers: [.init("kept-base", "1M"), .init("kept-one", "1M")]) }
        ) { cluster, v1, installed in
            let v2 = try await cluster.push("demo/kept:2", layers: [.init("kept-base", "1M"), .init("kept-two", "1M")])
            let install = try await cluster.ferry(["install", v2])
            #expect(install.status == 0, "\(install.stderr)")
            let images = try await cluster.admin.images().images
            func digests(_ reference: String) async throws -> Set<Digest> {
                let id = try #require(images.first { $0.reference == reference }).id
                return Set(try #require(try await cluster.admin.image(id: id).blobs).map { try Digest(parsing: $0.digest) })
            }
            let removed = try await digests(v1).subtracting(try await digests(v2))
            #expect(removed.count == 2, "the layer kept-one and v1's config")
            let directory = try #require(cluster.nodes["n1"]).directory
            let collected = try await cluster.ferry(["gc", "--data-dir", directory, "--keep", "1"])
            #expect(collected.status == 0 && collected.stdout.contains("removed 1 image"), "\(collected.stdout)\n\(collected.stderr)")
            let store = try BlobStore(root: "\(directory)/store")
            #expect(!removed.contains(where: store.contains), "the collection removed v1's own blobs from the node")

            try await withTemporaryDirectory("ctd-gc") { scratch in
                let containerd = try await TestContainerd.start(in: scratch.sub("c"))
                do {
                    let before = Self.upstreamRequests(cluster.registry)
                    let pull = try await containerd.ctr(["images", "pull", "--hosts-dir", installed.hostsDirectory, "--snapshotter", "native", v1])
                    #expect(pull.succeeded, "\(pull.stdout)\n\(pull.stderr)")
                    #expect(Self.upstreamRequests(cluster.registry) == before, "containerd went upstream")
                    let check = try await containerd.ctr(["images", "check"])
                    #expect(check.succeeded && check.stdout.contains("complete"), "\(check.stdout)")
                } catch {
                    await containerd.stop()
                    throw error
                }
                await containerd.stop()
            }
            // The blobs came through the mesh into the node's store, as an install's do.
            #expect(removed.allSatisfy(store.contains), "\(cluster.followerLog("n1").suffix(2000))")

            // What cannot come is 404, so that the client goes to its next host: a blob the
            // leader does not hold for the node at once; with the leader away, within the
            // fallback's 10 s, and then at once while it counts as away.
            func status(_ digest: Digest, at url: String? = nil) async throws -> (code: String, took: Duration) {
                let started = ContinuousClock.now
                let curl = try await runProcess(
                    "/usr/bin/curl",
                    ["-s", "-o", "/dev/null", "-w", "%{http_code}", "-H", "Authorization: \(installed.authorization)",
                     "\(url ?? installed.url)/v2/demo/kept/blobs/\(digest)?ns=\(cluster.registry.host)"])
                return (curl.stdout, ContinuousClock.now - started)
            }
            let unknown = try await status(Digest.sha256(of: Array("held nowhere".utf8)))
            #expect(unknown.code == "404" && unknown.took < .seconds(5), "\(unknown)")
            // A blob that cannot be stored (no room on the disk, here --reserved-space 900 TiB)
            // is 404 too, not a 200 whose body breaks off: the answer waits for the first bytes.
            await cluster.killFollower("n1")
            try await cluster.startFollower("n1", extraArguments: ["--containerd-hosts-dir", installed.hostsDirectory, "--reserved-space", "900TiB"])
            try await waitUntil("the follower to write its new hosts.toml") {
                ((try? String(contentsOfFile: installed.hostsFile, encoding: .utf8)) ?? installed.hosts) != installed.hosts
            }
            let url = try #require(
                try String(contentsOfFile: installed.hostsFile, encoding: .utf8).split(separator: "\n")
                    .first { $0.hasPrefix("[host.\"http://127.0.0.1:") }.map { String($0.dropFirst("[host.\"".count).prefix { $0 != "\"" }) })
            let collectedAgain = try await cluster.ferry(["gc", "--data-dir", directory, "--keep", "1"])
            #expect(collectedAgain.status == 0, "\(collectedAgain.stderr)")
            let gone = try #require(removed.first { !store.contains($0) }, "the collection removed the fetched blobs again")
            let noRoom = try await status(gone, at: url)
            #expect(noRoom.code == "404" && noRoom.took < .seconds(8), "\(noRoom)")
            #expect(!store.contains(gone))

            // (The leader away: any blob the node does not hold asks it.)
            await cluster.killLeader()
            let away = try await status(Digest.sha256(of: Array("asked while the leader is away".utf8)), at: url)
            #expect(away.code == "404" && away.took < .seconds(20), "\(away)")
            let stillAway = try await status(Digest.sha256(of: Array("asked again".utf8)), at: url)
            #expect(stillAway.code == "404" && stillAway.took < .seconds(5), "at once, not after the fallback's 10 s: \(stillAway)")
        }
    }

    /// The mirror answers a tag as the upstream does. Before, it answered with the manifest of
    /// the node's own platform, so `ctr pull --platform linux/arm64` through it unpacked the
    /// amd64 image without a word; and containerd's fallback to a plain-HTTP registry used
    /// `https://`.
    @Test("A multi-platform tag through the follower: the index (as upstream), by digest, other platforms from upstream")
    func mirrorServesTheIndex() async throws {
        let images = Mutex<(amd: Digest, arm: Digest, index: Digest)?>(nil)
        try await Self.withMirror("mirror-index", push: { cluster in
            let host = cluster.registry.host
            let amd = try await TestImages.make("\(host)/demo/multi:amd64", in: cluster.dir.path, layers: [.init("ma", "1M")], arch: "amd64")
            let arm = try await TestImages.make(
                "\(host)/demo/multi:arm64", in: cluster.dir.path, layers: [.init("mb", "1M")], arch: "arm64", variant: "v8")
            let index = try await TestImages.pushIndex(registry: host, repository: "demo/multi", tag: "1", of: ["amd64", "arm64"])
            images.withLock { $0 = (amd, arm, index) }
            return "\(host)/demo/multi:1"
        }) { cluster, reference, installed in
            let (amd, arm, index) = try #require(images.withLock { $0 })
            let (host, hostsDirectory, mirror, authorization) = (cluster.registry.host, installed.hostsDirectory, installed.url, installed.authorization)
            func digest(_ path: String, accept: String = MediaType.manifestAccept) async throws -> String {
                let answer = try await runProcess(
                    "/usr/bin/curl", ["-s", "-o", "/dev/null", "-D", "-", "-H", "Authorization: \(authorization)", "-H", "Accept: \(accept)", "\(mirror)\(path)"])
                return answer.stdout.split(separator: "\r\n").first { $0.lowercased().hasPrefix("docker-content-digest:") }
                    .map { $0.split(separator: " ").last.map(String.init) ?? "" } ?? "none: \(answer.stdout)"
            }
            // The tag is the index, as upstream; the node's manifests by digest, without ?ns=
            // (the leader fallback for a digest without ?ns= is ManifestRoutesTests').
            #expect(try await digest("/v2/demo/multi/manifests/1?ns=\(host)") == index.description)
            #expect(try await digest("/v2/demo/multi/manifests/\(index)") == index.description)
            #expect(try await digest("/v2/demo/multi/manifests/\(amd)") == amd.description)
            // A client that takes no index gets the node's platform's manifest, as from the CNCF
            // registry; one that takes none of its types, a 404.
            let images = [MediaType.dockerManifest, MediaType.ociManifest].joined(separator: ", ")
            #expect(try await digest("/v2/demo/multi/manifests/1?ns=\(host)", accept: images) == amd.description)
            #expect(try await digest("/v2/demo/multi/manifests/1?ns=\(host)", accept: "\(MediaType.dockerManifestList);q=0.5, \(MediaType.ociIndex)") == index.description)
            #expect(try await digest("/v2/demo/multi/manifests/1?ns=\(host)", accept: "*/*") == index.description)
            #expect(try await digest("/v2/demo/multi/manifests/1?ns=\(host)", accept: MediaType.dockerSchema1Signed).hasPrefix("none: HTTP/1.1 404"))

            try await withTemporaryDirectory("ctd-index") { scratch in
                let containerd = try await TestContainerd.start(in: scratch.sub("c"))
                do {
                    // The node's platform: all of it from the mirror.
                    let before = Self.upstreamRequests(cluster.registry)
                    let pull = try await containerd.ctr(
                        ["images", "pull", "--hosts-dir", hostsDirectory, "--snapshotter", "native", "--platform", "linux/amd64", reference])
                    #expect(pull.succeeded, "\(pull.stdout)\n\(pull.stderr)")
                    #expect(Self.upstreamRequests(cluster.registry) == before, "containerd went upstream")
                    let listing = try await containerd.ctr(["images", "ls"])
                    #expect(listing.stdout.contains(index.description), "the image is the tag's index: \(listing.stdout)")

                    // Another platform: the index from the mirror, the arm64 manifest and layers
                    // from the plain-HTTP upstream (the mirror does not hold them).
                    let other = try await containerd.ctr(
                        ["images", "pull", "--hosts-dir", hostsDirectory, "--snapshotter", "native", "--platform", "linux/arm64/v8", reference])
                    #expect(other.succeeded, "\(other.stdout)\n\(other.stderr)")
                    #expect(Self.upstreamRequests(cluster.registry) > before, "arm64 came from upstream")
                    let armManifest = try await containerd.ctr(["content", "get", arm.description])
                    #expect(armManifest.succeeded, "containerd holds the arm64 manifest: \(armManifest.stderr)")
                } catch {
                    await containerd.stop()
                    throw error
                }
                await containerd.stop()
            }
        }
    }

    /// skopeo cannot add `?ns=` to a tag: with `--default-registry` the follower resolves it,
    /// from its own records (before, `404 NAME_UNKNOWN`, and `skopeo inspect` failed even by
    /// digest, on its `tags/list`).
    @Test("skopeo inspects and copies an image the node holds, by tag, from a follower with --default-registry, zero requests upstream")
    func skopeoByTagWithDefaultRegistry() async throws {
        try await Self.withMirror(
            "mirror-skopeo", followerArguments: { ["--default-registry", $0.registry.host] },
            push: { try await $0.push("demo/skopeo:1", layers: [.init("s1", "1M")]) }
        ) { cluster, reference, installed in
            let credential = String(installed.authorization.dropFirst("Bearer ".count))
            let local = "docker://\(installed.url.dropFirst("http://".count))/\(reference.dropFirst(cluster.registry.host.count + 1))"
            let held = try #require(try await cluster.admin.images().images.first { $0.reference == reference }?.manifestDigest)
            let before = Self.upstreamRequests(cluster.registry)
            let inspect = try await runProcess("/usr/bin/skopeo", ["inspect", "--tls-verify=false", "--creds", "x:\(credential)", local])
            #expect(inspect.succeeded, "\(inspect.stderr)")
            #expect(inspect.stdout.contains("\"Digest\": \"\(held)\""), "\(inspect.stdout)")
            #expect(inspect.stdout.contains("\"1\""), "the tag is listed: \(inspect.stdout)")
            try await withTemporaryDirectory("skopeo-out") { out in
                let copy = try await runProcess(
                    "/usr/bin/skopeo",
                    ProxyTests.skopeoGlobal + ["copy", "--src-tls-verify=false", "--src-creds", "x:\(credential)", local, "dir:\(out.sub("image"))"])
                #expect(copy.succeeded, "\(copy.stderr)")
                let manifest = try #require(FileManager.default.contents(atPath: out.sub("image/manifest.json")))
                #expect(Digest.sha256(of: manifest).description == held, "the manifest's bytes are the ones installed")
            }
            #expect(Self.upstreamRequests(cluster.registry) == before, "skopeo's requests went upstream")
        }
    }
}
