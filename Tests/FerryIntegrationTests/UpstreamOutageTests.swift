import FerryCore
import FerryMesh
import FerryTestSupport
import Foundation
import Testing

/// Installs and fetches while the upstream registry is away (`--pull`, docs/operations.md
/// "Upstream outage"): the real registry is stopped, the leader restarted, and what the leader
/// holds still installs. Needs root (dockerd).
@Suite("Upstream outage", .serialized, .requiresRoot("dockerd"))
struct UpstreamOutageTests {
    @Test("Registry stopped and leader restarted: a held tag installs onto a new node with a warning; a tag not held and --pull always fail with the upstream's reason")
    func heldTagInstallsOntoNewNode() async throws {
        try await TestCluster.with("outage", nodes: ["n1", "n2"]) { cluster in
            let reference = try await cluster.push("demo/app:1.0", layers: [.init("outage", "1M")])
            let first = try await cluster.ferry(["install", reference, "--nodes", "n1"])
            #expect(first.status == 0, "\(first.stdout)\n\(first.stderr)")
            let held = try #require(try await cluster.admin.images().images.first { $0.reference == reference })
            let digest = try #require(held.digest)

            await cluster.registry.stop()
            await cluster.killLeader()
            try await cluster.restartLeader()

            let second = try await cluster.ferry(["install", reference, "--nodes", "n2"])
            #expect(second.status == 0, "\(second.stdout)\n\(second.stderr)")
            let warning = second.stderr.split(separator: "\n").first { $0.hasPrefix("ferry: warning: ") }.map(String.init) ?? ""
            #expect(warning.contains(reference) && warning.contains(digest) && warning.contains("fetched"), "\(second.stderr)")
            #expect(try await cluster.engine("n2").run(reference).stdout.contains("ferry-image demo/app:1.0 ok"))
            let installs = try await cluster.admin.installs().installs.sorted { $0.id < $1.id }
            let install = try #require(installs.last)
            #expect(install.state == .done)
            #expect(install.warnings?.count == 1 && install.warnings?.first?.contains(digest) == true, "\(String(describing: install.warnings))")
            #expect(installs.first?.warnings == nil)
            let shown = try await cluster.ferry(["status", "\(install.id)"])
            #expect(shown.stdout.contains("warning: ") && shown.stdout.contains(digest), "\(shown.stdout)")

            // A tag the leader does not hold fails with the upstream's reason.
            let missing = try await cluster.ferry(["install", "\(cluster.registry.host)/demo/app:2.0", "--nodes", "n2", "--json"])
            #expect(missing.status == 1)
            let failed = try FerryJSON.decoder().decode(InstallStatus.self, from: Data(missing.stdout.utf8))
            #expect(failed.targets.first?.error?.code == "UPSTREAM_UNREACHABLE", "\(missing.stdout)")
            #expect(failed.targets.first?.error?.message.contains("cannot reach registry \(cluster.registry.host)") == true)

            // --pull always fails when the upstream cannot answer, even for a held tag.
            let always = try await cluster.ferry(["install", reference, "--nodes", "n2", "--pull", "always", "--json"])
            #expect(always.status == 1)
            let refused = try FerryJSON.decoder().decode(InstallStatus.self, from: Data(always.stdout.utf8))
            #expect(refused.targets.first?.error?.code == "UPSTREAM_UNREACHABLE", "\(always.stdout)")
            #expect(refused.warnings == nil)
        }
    }

    @Test("A 404 for a held tag is an answer, never a fallback; --pull missing and a held digest never ask the upstream")
    func answersAndHeldDigests() async throws {
        try await TestCluster.with("outage404", nodes: [], engines: []) { cluster in
            let reference = try await cluster.push("demo/app:1", layers: [.init("o404", "256K")])
            let fetched = try await cluster.ferry(["fetch", reference, "--json"])
            #expect(fetched.status == 0, "\(fetched.stderr)")
            let held = try #require(try await cluster.admin.images().images.first { $0.reference == reference })
            let digest = try #require(held.digest)

            // The tag goes away upstream (the registry answers 404): the fetch fails with that answer.
            let tagDirectory = "\(cluster.registry.directory)/data/docker/registry/v2/repositories/demo/app/_manifests/tags/1"
            try FileManager.default.removeItem(atPath: tagDirectory)
            let gone = try await cluster.ferry(["fetch", reference])
            #expect(gone.status == 1)
            #expect(gone.stderr.contains("not found on \(cluster.registry.host)"), "\(gone.stderr)")
            #expect(!gone.stderr.contains("warning: "))
            let after = try await cluster.admin.image(id: held.id)
            #expect(after.state == .failed && after.error?.code == "MANIFEST_UNKNOWN" && after.warning == nil)

            await cluster.registry.stop()
            let gets = try await cluster.registry.blobGets()
            // The digest it held, and the held tag under --pull missing, need no upstream at all.
            let pinned = "\(cluster.registry.host)/demo/app@\(digest)"
            let byDigest = try await cluster.ferry(["fetch", pinned, "--pull", "always"])
            #expect(byDigest.status == 0, "\(byDigest.stderr)")
            #expect(!byDigest.stderr.contains("warning: "))
            let missing = try await cluster.ferry(["fetch", reference, "--pull", "missing", "--json"])
            #expect(missing.status == 0, "\(missing.stderr)")
            let response = try FerryJSON.decoder().decode(FetchResponse.self, from: Data(missing.stdout.utf8))
            #expect(response.images.first?.state == .present && response.images.first?.warning == nil && response.images.first?.digest == digest)
            #expect(try await cluster.registry.blobGets() == gets)
            // fallback with the registry away: the held digest, with the warning.
            let fallback = try await cluster.ferry(["fetch", reference])
            #expect(fallback.status == 0, "\(fallback.stderr)")
            #expect(fallback.stderr.contains("warning: upstream did not answer for \(reference)") && fallback.stderr.contains(digest), "\(fallback.stderr)")
            #expect(try await cluster.admin.image(id: held.id).warning?.contains(digest) == true)
        }
    }
}
