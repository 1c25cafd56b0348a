import FerryCore
import FerryMesh
import FerryTestSupport
import Foundation
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

    @Test("containerd pulls an image the node holds through its follower, by tag, with zero requests upstream")
    func containerdPullsThroughFollower() async throws {
        try await TestCluster.with("mirror", nodes: ["n1"]) { cluster in
            let hostsDirectory = cluster.dir.sub("certs.d")
            await cluster.killFollower("n1")
            try await cluster.startFollower("n1", extraArguments: ["--containerd-hosts-dir", hostsDirectory])
            let reference = try await cluster.push("demo/mirror:1", layers: [.init("m1", "1M"), .init("m2", "512K")])
            let install = try await cluster.ferry(["install", reference])
            #expect(install.status == 0, "\(install.stdout)\n\(install.stderr)")

            // The follower writes the registry's hosts.toml once the image is held: owner-only.
            let hostsFile = "\(hostsDirectory)/\(cluster.registry.host)/hosts.toml"
            try await waitUntil("the follower to write \(hostsFile)") { FileManager.default.fileExists(atPath: hostsFile) }
            let attributes = try FileManager.default.attributesOfItem(atPath: hostsFile)
            #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)
            let hosts = try String(contentsOfFile: hostsFile, encoding: .utf8)
            #expect(hosts.contains("server = \"https://\(cluster.registry.host)\""), "\(hosts)")
            #expect(hosts.contains("capabilities = [\"pull\", \"resolve\"]"), "\(hosts)")
            #expect(hosts.contains("Authorization = \"Bearer "), "\(hosts)")
            let mirror = try #require(hosts.split(separator: "\n").first { $0.hasPrefix("[host.\"http://127.0.0.1:") }
                .map { String($0.dropFirst("[host.\"".count).prefix { $0 != "\"" }) })

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
}
