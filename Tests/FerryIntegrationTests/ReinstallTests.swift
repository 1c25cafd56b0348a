import FerryCore
import FerryMesh
import FerryTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// docs/state.md: another install of an image that a node is still receiving leaves that node's
/// transfer going (the leader resolves the tag again meanwhile); when the tag has moved, the node
/// starts over with the new digest at once.
@Suite("Installs of an image under way", .requiresRoot("dockerd"))
struct ReinstallTests {
    @Test("a second install of an image a node still receives: the node goes on (one attempt); when the tag has moved meanwhile, it starts over with the new digest, and both nodes end with the tag's newest image")
    func secondInstallOfAnImageUnderWay() async throws {
        try await TestCluster.with("reinstall", nodes: ["n1", "n2"]) { cluster in
            await cluster.killFollower("n1", signal: SIGTERM)
            try await cluster.startFollower("n1", join: false, extraArguments: ["--max-download-rate", "256KiB/s"])

            // 1. The same digest: n1 goes on. Before, the image went back to `pending` for the
            // second install's resolution, vanished from n1's work, and n1 stopped and started over.
            let same = try await cluster.push("demo/same:1", layers: [.init("same", "8M")], busybox: false)
            var first = try await cluster.admin.install(InstallRequest(images: [same], nodes: ["n1"]))
            _ = try await cluster.install(first.id, until: "n1 receives", timeout: .seconds(180)) { ($0.targets.first?.bytesDone ?? 0) >= 512 * 1024 }
            var second = try await cluster.admin.install(InstallRequest(images: [same], nodes: ["n2"]))
            second = try await cluster.install(second.id, until: "n2's install ends", timeout: .seconds(180)) { $0.isFinished }
            first = try await cluster.install(first.id, until: "n1's install ends", timeout: .seconds(180)) { $0.isFinished }
            #expect(first.state == .done && second.state == .done, "\(first.targets) \(second.targets)")
            #expect(first.targets.first?.attempts == 1, "n1 went on through the second install: \(first.targets)")

            // 2. The tag moved between the two installs: n1 is told at once and starts over with
            // the new digest (before the fix of the first case it did too, but only by the accident
            // of its restart).
            let moving = try await cluster.push("demo/moving:1", layers: [.init("old", "8M")], busybox: false)
            first = try await cluster.admin.install(InstallRequest(images: [moving], nodes: ["n1"]))
            _ = try await cluster.install(first.id, until: "n1 receives", timeout: .seconds(180)) { ($0.targets.first?.bytesDone ?? 0) >= 512 * 1024 }
            #expect(try await cluster.push("demo/moving:1", layers: [.init("new", "8M")], busybox: false) == moving)
            second = try await cluster.admin.install(InstallRequest(images: [moving], nodes: ["n2"]))
            second = try await cluster.install(second.id, until: "n2's install ends", timeout: .seconds(180)) { $0.isFinished }
            first = try await cluster.install(first.id, until: "n1's install ends", timeout: .seconds(180)) { $0.isFinished }
            #expect(first.state == .done && second.state == .done, "\(first.targets) \(second.targets)")
            #expect(first.targets.first?.attempts == 2, "n1 started over once, with the new digest: \(first.targets)")
            let newest = try #require(try await cluster.engine("n2").imageID(moving))
            #expect(try await cluster.engine("n1").imageID(moving) == newest, "n1 holds the tag's newest image")
        }
    }

    /// Before, the second install's failed resolution (the tag gone upstream: 404) failed every
    /// unfinished target of the image, n1's too, although the leader held all of it.
    @Test("the tag is deleted upstream while a node still receives it: a new install of it fails with the registry's 404, the install under way finishes from what the leader holds")
    func tagGoneUnderAnInstall() async throws {
        try await TestCluster.with("tag-gone", nodes: ["n1", "n2"]) { cluster in
            await cluster.killFollower("n1", signal: SIGTERM)
            try await cluster.startFollower("n1", join: false, extraArguments: ["--max-download-rate", "256KiB/s"])
            let reference = try await cluster.push("demo/gone:1", layers: [.init("gone", "8M")], busybox: false)
            var first = try await cluster.admin.install(InstallRequest(images: [reference], nodes: ["n1"]))
            _ = try await cluster.install(first.id, until: "n1 receives", timeout: .seconds(180)) { ($0.targets.first?.bytesDone ?? 0) >= 512 * 1024 }
            // The leader holds the whole image (its own link is not capped), so the next install
            // resolves the tag again.
            try await waitUntil("the leader holds the image", timeout: .seconds(60)) {
                try await cluster.admin.images().images.first { $0.reference == reference }?.state == .present
            }
            let tag = "\(cluster.registry.directory)/data/docker/registry/v2/repositories/demo/gone/_manifests/tags/1"
            try FileManager.default.removeItem(atPath: tag)

            var second = try await cluster.admin.install(InstallRequest(images: [reference], nodes: ["n2"]))
            second = try await cluster.install(second.id, until: "n2's install ends", timeout: .seconds(120)) { $0.isFinished }
            #expect(second.state == .failed && second.targets.first?.error?.code == "MANIFEST_UNKNOWN", "\(second.targets)")
            let during = try await cluster.admin.install(id: first.id)
            #expect(during.state == .running && during.targets.first?.error == nil, "n1 was still receiving: \(during.targets)")
            let image = try #require(try await cluster.admin.images().images.first { $0.reference == reference })
            #expect(image.state == .failed && image.error?.code == "MANIFEST_UNKNOWN", "the image shows the last answer")
            first = try await cluster.install(first.id, until: "n1's install ends", timeout: .seconds(180)) { $0.isFinished }
            #expect(first.state == .done && first.targets.first?.attempts == 1, "n1 went on: \(first.targets)")
            #expect(try await cluster.engine("n1").imageID(reference) != nil)
            #expect(try await cluster.engine("n2").imageID(reference) == nil, "nothing half-installed on n2")
        }
    }
}
