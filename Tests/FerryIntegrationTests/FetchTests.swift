import FerryCoordinator
import FerryCore
import FerryRegistry
import FerryState
import FerryStore
import FerryMesh
import FerryTestSupport
import Foundation
import Testing

@Suite("Leader fetches from a real registry", .serialized)
struct FetchTests {
    @Test("A single-arch schema 2 image is fetched, verified, and served back byte for byte")
    func singleArchSchema2() async throws {
        try await withTemporaryDirectory("fetch-single") { dir in
            try await TestRegistry.with(in: dir.sub("registry")) { registry in
                let digest = try await TestImages.make(
                    "\(registry.host)/demo/app:1", in: dir.path, layers: [.init("a", "3M"), .init("b", "1M")], busybox: true)
                try await LeaderHarness.with(dataDirectory: dir.sub("leader"), { $0.defaultRegistry = registry.host }) { leader in
                    let statuses = try await leader.fetch(["\(registry.host)/demo/app:1"])
                    let image = try #require(statuses.first)
                    #expect(image.state == .present, "\(image.error?.message ?? "")")
                    #expect(image.manifestDigest == digest.description)
                    let detail = try await leader.client.image(id: image.id)
                    let blobs = try #require(detail.blobs)
                    #expect(blobs.count == 4)
                    #expect(blobs.allSatisfy { $0.state == .present && $0.bytesDone == $0.size })
                    #expect(image.size == blobs.reduce(0) { $0 + $1.size })
                    #expect(try await expectStoreConsistent(leader.store))
                    #expect(leader.store.partialIngests().isEmpty)

                    // skopeo, a standard client, pulls the image back from the leader's /v2/ API.
                    let out = dir.sub("pulled")
                    try await runChecked(
                        "/usr/bin/skopeo",
                        ["copy", "--src-tls-verify=false", "--src-creds", "ferry:\(leader.service.adminToken)",
                         "docker://\(leader.url.split(separator: "/").last!)/demo/app:1", "dir:\(out)"],
                        environment: [:])
                    let pulledManifest = try Data(contentsOf: URL(fileURLWithPath: "\(out)/manifest.json"))
                    #expect(Digest.sha256(of: pulledManifest) == digest)
                }
            }
        }
    }

    @Test("Two images sharing layers, asked for concurrently and twice, cost one upstream GET per blob")
    func fetchOnce() async throws {
        try await withTemporaryDirectory("fetch-once") { dir in
            try await TestRegistry.with(in: dir.sub("registry")) { registry in
                let base: [TestImages.Layer] = [.init("base", "6M"), .init("shared", "2M")]
                try await TestImages.make("\(registry.host)/demo/one:1", in: dir.path, layers: base + [.init("one", "1M")], busybox: true)
                try await TestImages.make("\(registry.host)/demo/two:1", in: dir.path, layers: base + [.init("two", "1M")], busybox: true)
                try await LeaderHarness.with(dataDirectory: dir.sub("leader"), { $0.registry.rateLimit = 16 * 1024 * 1024 }) { leader in
                    let references = ["\(registry.host)/demo/one:1", "\(registry.host)/demo/two:1"]
                    // Four concurrent requests: both images, each twice, from separate API calls.
                    let statuses = try await withThrowingTaskGroup(of: [ImageStatus].self) { group in
                        for _ in 0..<2 {
                            for reference in references {
                                group.addTask { try await leader.fetch([reference]) }
                            }
                        }
                        return try await group.reduce(into: []) { $0 += $1 }
                    }
                    #expect(statuses.count == 4)
                    #expect(statuses.allSatisfy { $0.state == .present })
                    // And once more after everything is held: no blob GET at all.
                    _ = try await leader.fetch(references)
                    let gets = try await registry.blobGets()
                    let stored = leader.store.allBlobs()
                    #expect(stored.count == 7, "busybox, base, shared, one, two and two configs")
                    for digest in stored {
                        #expect(gets[digest] == 1, "blob \(digest) was fetched \(gets[digest] ?? 0) times")
                    }
                }
            }
        }
    }

    @Test("A file in the store that no record vouches for is hashed first: a wrong one of the right size is fetched again, never served")
    func unrecordedFileIsVerified() async throws {
        try await withTemporaryDirectory("fetch-planted") { dir in
            try await TestRegistry.with(in: dir.sub("registry")) { registry in
                try await TestImages.make("\(registry.host)/demo/app:1", in: dir.path, layers: [.init("a", "2M"), .init("b", "1M")])
                let storage = dir.sub("registry") + "/data/docker/registry/v2"
                let layers = try FileManager.default.contentsOfDirectory(atPath: "\(storage)/repositories/demo/app/_layers/sha256")
                try await LeaderHarness.with(dataDirectory: dir.sub("leader")) { leader in
                    // Garbage of each blob's size where the store keeps it, before the leader ever fetched it.
                    var planted: [Digest] = []
                    for hex in layers {
                        let digest = try Digest(parsing: "sha256:\(hex)")
                        let size = try #require(try FileManager.default.attributesOfItem(
                            atPath: "\(storage)/blobs/sha256/\(hex.prefix(2))/\(hex)/data")[.size] as? Int)
                        let path = leader.store.path(for: digest)
                        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
                        try Data((0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31) }).write(to: URL(fileURLWithPath: path))
                        planted.append(digest)
                    }
                    let image = try #require(try await leader.fetch(["\(registry.host)/demo/app:1"]).first)
                    #expect(image.state == .present, "\(image.error?.message ?? "")")
                    #expect(try await expectStoreConsistent(leader.store), "the planted files were replaced by the real blobs")
                    let gets = try await registry.blobGets()
                    for digest in planted { #expect(gets[digest] == 1, "blob \(digest) fetched \(gets[digest] ?? 0) times") }
                }
            }
        }
    }

    @Test("An image whose blob fails for good fails at once; the blob it shared with another image goes on, fetched once")
    func failureLeavesSharedBlob() async throws {
        try await withTemporaryDirectory("fetch-shared-failure") { dir in
            try await TestRegistry.with(in: dir.sub("registry")) { registry in
                let shared = TestImages.Layer("shared", "12M")
                try await TestImages.make("\(registry.host)/demo/one:1", in: dir.path, layers: [shared, .init("one", "1M")])
                try await TestImages.make("\(registry.host)/demo/two:1", in: dir.path, layers: [shared, .init("two", "1M")])
                // Remove the blobs only `one` has from the registry's storage: its fetch fails with BLOB_UNKNOWN.
                let storage = dir.sub("registry") + "/data/docker/registry/v2"
                func layers(_ repository: String) throws -> Set<String> {
                    Set(try FileManager.default.contentsOfDirectory(atPath: "\(storage)/repositories/demo/\(repository)/_layers/sha256"))
                }
                let sharedBlobs = try layers("one").intersection(try layers("two"))
                let onlyOne = try layers("one").subtracting(sharedBlobs)
                #expect(sharedBlobs.count == 1 && onlyOne.count == 2, "the shared layer; one's layer and config")
                for hex in onlyOne {
                    try FileManager.default.removeItem(atPath: "\(storage)/blobs/sha256/\(hex.prefix(2))/\(hex)")
                }
                // 12 MiB at 2 MiB/s: the shared blob takes about 6 s, `one` fails in the first moments.
                try await LeaderHarness.with(dataDirectory: dir.sub("leader"), { $0.registry.rateLimit = 2 * 1024 * 1024 }) { leader in
                    let accepted = try await leader.client.fetch(
                        FetchRequest(images: ["\(registry.host)/demo/one:1", "\(registry.host)/demo/two:1"], platform: nil))
                    let ids = accepted.images.map(\.id)
                    let one = try #require(try await leader.wait(for: [ids[0]]).first)
                    #expect(one.state == .failed)
                    #expect(one.error?.code == FerryError.Code.blobUnknown.rawValue, "\(one.error?.message ?? "")")
                    // Reported while the shared blob is still on its way, not after it.
                    let twoMeanwhile = try await leader.client.image(id: ids[1])
                    #expect(!twoMeanwhile.isFinished, "two finished before one was reported failed")
                    let two = try #require(try await leader.wait(for: [ids[1]]).first)
                    #expect(two.state == .present, "\(two.error?.message ?? "")")
                    #expect(try await expectStoreConsistent(leader.store))
                }
                let gets = try await registry.blobGets()
                let sharedDigest = try Digest(parsing: "sha256:\(try #require(sharedBlobs.first))")
                #expect(gets[sharedDigest] == 1, "the shared blob was fetched \(gets[sharedDigest] ?? 0) times")
            }
        }
    }

    @Test("A manifest list is resolved for the asked platform; a missing platform lists what exists")
    func manifestListPlatforms() async throws {
        try await withTemporaryDirectory("fetch-list") { dir in
            try await TestRegistry.with(in: dir.sub("registry")) { registry in
                let amd = try await TestImages.make("\(registry.host)/demo/multi:amd64", in: dir.path, layers: [.init("amd", "1M")], arch: "amd64")
                let arm = try await TestImages.make(
                    "\(registry.host)/demo/multi:arm64", in: dir.path, layers: [.init("arm", "1M")], arch: "arm64", variant: "v8")
                try await TestImages.pushIndex(registry: registry.host, repository: "demo/multi", tag: "1", of: ["amd64", "arm64"])
                try await LeaderHarness.with(dataDirectory: dir.sub("leader")) { leader in
                    let reference = "\(registry.host)/demo/multi:1"
                    let armImage = try #require(try await leader.fetch([reference], platform: "linux/aarch64").first)
                    #expect(armImage.state == .present, "\(armImage.error?.message ?? "")")
                    #expect(armImage.manifestDigest == arm.description)
                    #expect(armImage.resolvedPlatform == "linux/arm64")
                    let amdImage = try #require(try await leader.fetch([reference], platform: "linux/x86_64").first)
                    #expect(amdImage.manifestDigest == amd.description)

                    let none = try #require(try await leader.fetch([reference], platform: "linux/s390x").first)
                    #expect(none.state == .failed)
                    #expect(none.error?.code == "NO_MATCHING_PLATFORM")
                    #expect(none.error?.message.contains("linux/amd64") == true)
                    #expect(none.error?.message.contains("linux/arm64") == true)
                }
            }
        }
    }

    @Test("A single-platform image is fetched for a platform that runs it, refused for one that does not, as containerd does")
    func singlePlatformImage() async throws {
        try await withTemporaryDirectory("fetch-single") { dir in
            try await TestRegistry.with(in: dir.sub("registry")) { registry in
                _ = try await TestImages.make("\(registry.host)/demo/armonly:1", in: dir.path, layers: [.init("armonly", "64K")], arch: "arm64", variant: "v8")
                try await LeaderHarness.with(dataDirectory: dir.sub("leader")) { leader in
                    let reference = "\(registry.host)/demo/armonly:1"
                    let arm = try #require(try await leader.fetch([reference], platform: "linux/arm64").first)
                    #expect(arm.state == .present, "\(arm.error?.message ?? "")")
                    // Before, held as linux/s390x (and as linux/amd64 for an amd64 node).
                    let other = try #require(try await leader.fetch([reference], platform: "linux/s390x").first)
                    #expect(other.state == .failed)
                    #expect(other.error?.code == "NO_MATCHING_PLATFORM")
                    #expect(other.error?.message.contains("is an image for linux/arm64 only, not for linux/s390x") == true, "\(other.error?.message ?? "")")
                    let older = try #require(try await leader.fetch([reference], platform: "linux/amd64").first)
                    #expect(older.state == .failed, "an amd64 node cannot run it")
                    #expect(try await expectStoreConsistent(leader.store))
                }
            }
        }
    }

    @Test("OCI manifests and an OCI index with a BuildKit attestation entry")
    func ociFormats() async throws {
        try await withTemporaryDirectory("fetch-oci") { dir in
            try await TestRegistry.with(in: dir.sub("registry")) { registry in
                let single = try await TestImages.make("\(registry.host)/demo/oci:1", in: dir.path, layers: [.init("oci", "1M")], oci: true)
                try await TestImages.make("\(registry.host)/demo/ociidx:amd64", in: dir.path, layers: [.init("oa", "1M")], arch: "amd64", oci: true)
                try await TestImages.make("\(registry.host)/demo/ociidx:arm64", in: dir.path, layers: [.init("ob", "1M")], arch: "arm64", oci: true)
                let index = try await TestImages.pushIndex(
                    registry: registry.host, repository: "demo/ociidx", tag: "1", of: ["amd64", "arm64"], oci: true, attestation: true)
                try await LeaderHarness.with(dataDirectory: dir.sub("leader")) { leader in
                    let statuses = try await leader.fetch(["\(registry.host)/demo/oci:1", "\(registry.host)/demo/ociidx:1"])
                    #expect(statuses.allSatisfy { $0.state == .present }, "\(statuses.map { $0.error?.message ?? "" })")
                    #expect(statuses[0].manifestDigest == single.description)
                    #expect(statuses[1].digest == index.description)
                    #expect(statuses[1].resolvedPlatform == "linux/amd64")
                    // The attestation manifest was skipped, never fetched.
                    let indexJSON = try await runChecked(
                        "/usr/bin/curl", ["-sf", "-H", "Accept: \(MediaType.ociIndex)", "\(registry.url)/v2/demo/ociidx/manifests/1"])
                    let parsed = try JSONDecoder().decode(ImageIndex.self, from: Data(indexJSON.utf8))
                    let attestation = try #require(parsed.manifests.first { $0.isAttestation })
                    #expect(try await leader.service.database.manifest(attestation.digest) == nil)
                    #expect(try await leader.client.image(id: statuses[1].id).blobs?.count == 2)
                }
            }
        }
    }

    @Test("An image or tag the registry lacks fails with the registry's reason")
    func unknownImage() async throws {
        try await withTemporaryDirectory("fetch-unknown") { dir in
            try await TestRegistry.with(in: dir.sub("registry")) { registry in
                try await TestImages.make("\(registry.host)/demo/app:1", in: dir.path, layers: [.init("x", "64K")])
                try await LeaderHarness.with(dataDirectory: dir.sub("leader")) { leader in
                    let statuses = try await leader.fetch(["\(registry.host)/demo/app:nope", "\(registry.host)/demo/missing:1"])
                    #expect(statuses.allSatisfy { $0.state == .failed })
                    #expect(statuses[0].error?.code == "MANIFEST_UNKNOWN")
                    #expect(statuses[0].error?.message.contains("not found") == true)
                    #expect(statuses[1].error.map { ["NAME_UNKNOWN", "MANIFEST_UNKNOWN"].contains($0.code) } == true)
                    #expect(leader.store.allBlobs().isEmpty)
                }
            }
        }
    }
}
