import FerryCoordinator
import FerryCore
import FerryMesh
import FerryRegistry
import FerryStore
import FerryTestSupport
import Foundation
import Testing

/// A real registry behind a ``FaultProxy`` that breaks things on purpose.
@Suite("Upstream faults", .serialized)
struct UpstreamFaultTests {
    /// Starts a registry with one image (`demo/app:1`, 4 MiB + 1 MiB layers) behind a fault proxy.
    static func withFaultyUpstream(
        _ label: String, plan: FaultProxy.Plan = .init(),
        _ body: (TemporaryDirectory, TestRegistry, FaultProxy, String) async throws -> Void
    ) async throws {
        try await withTemporaryDirectory(label) { dir in
            try await TestRegistry.with(in: dir.sub("registry")) { registry in
                try await TestImages.make("\(registry.host)/demo/app:1", in: dir.path, layers: [.init("f1", "4M"), .init("f2", "1M")])
                let proxy = try await FaultProxy.start(upstream: registry.url, plan: plan)
                do {
                    try await body(dir, registry, proxy, "\(proxy.host)/demo/app:1")
                    await proxy.stop()
                } catch {
                    await proxy.stop()
                    throw error
                }
            }
        }
    }

    @Test("A blob cut off mid-stream resumes with Range from where it stopped")
    func resumeAfterDrop() async throws {
        var plan = FaultProxy.Plan()
        plan.dropBlobAfter = 1_500_000
        plan.drops = 2
        try await Self.withFaultyUpstream("fault-drop", plan: plan) { dir, _, proxy, reference in
            try await LeaderHarness.with(dataDirectory: dir.sub("leader")) { leader in
                let status = try #require(try await leader.fetch([reference]).first)
                #expect(status.state == .present, "\(status.error?.message ?? "")")
                #expect(try await expectStoreConsistent(leader.store))
            }
            // The 4 MiB layer was cut twice, and each time resumed from its offset with a 206.
            let resumes = proxy.requests.filter { $0.path.contains("/blobs/") && $0.range != nil }
            #expect(resumes.count == 2)
            #expect(resumes.allSatisfy { $0.status == 206 && ($0.range?.hasPrefix("bytes=") ?? false) })
            let offsets = resumes.compactMap { $0.range.flatMap { Int($0.dropFirst(6).dropLast()) } }
            #expect(offsets.count == 2 && offsets[0] > 0 && offsets[1] > offsets[0])
            // Upstream bytes: one copy of every blob, plus what was in flight (socket buffers) when
            // the link broke; restarting from zero instead would resend the 1.5 MB before each cut.
            let total = try #require(try await TestRegistry.blobSizes(of: proxy, reference: reference))
            #expect(proxy.blobBytesServed >= total)
            #expect(proxy.blobBytesServed - total == Int64(2 * 1_500_000 - offsets[1]), "lost = sent before each cut − progress kept")
            #expect(proxy.blobBytesServed < total + 2 * 1_500_000)
        }
    }

    @Test("A registry that ignores Range restarts the blob from zero and still verifies")
    func ignoredRange() async throws {
        var plan = FaultProxy.Plan()
        plan.dropBlobAfter = 1_000_000
        plan.drops = 1
        plan.ignoreRange = true
        try await Self.withFaultyUpstream("fault-norange", plan: plan) { dir, _, _, reference in
            try await LeaderHarness.with(dataDirectory: dir.sub("leader")) { leader in
                let status = try #require(try await leader.fetch([reference]).first)
                #expect(status.state == .present, "\(status.error?.message ?? "")")
                #expect(try await expectStoreConsistent(leader.store))
            }
        }
    }

    @Test("Bytes that do not match the digest are discarded: the image fails, nothing half-written stays")
    func digestMismatch() async throws {
        var plan = FaultProxy.Plan()
        plan.corruptBlobs = true
        try await Self.withFaultyUpstream("fault-corrupt", plan: plan) { dir, _, _, reference in
            try await LeaderHarness.with(dataDirectory: dir.sub("leader")) { leader in
                let status = try #require(try await leader.fetch([reference]).first)
                #expect(status.state == .failed)
                #expect(status.error?.code == "DIGEST_MISMATCH")
                #expect(status.error?.message.contains("does not match its digest") == true)
                // The image fails at the first blob; its other blobs still on their way finish (and fail) after.
                try await waitUntil("the leader's downloads to end") { await leader.service.activeDownloads.isEmpty }
                #expect(leader.store.allBlobs().isEmpty)
                #expect(leader.store.partialIngests().isEmpty)
            }
        }
    }

    @Test("429 with Retry-After is honoured, then the fetch succeeds")
    func tooManyRequests() async throws {
        var plan = FaultProxy.Plan()
        plan.tooManyRequests = 2
        plan.retryAfter = 1
        try await Self.withFaultyUpstream("fault-429", plan: plan) { dir, _, proxy, reference in
            try await LeaderHarness.with(dataDirectory: dir.sub("leader")) { leader in
                let status = try #require(try await leader.fetch([reference]).first)
                #expect(status.state == .present, "\(status.error?.message ?? "")")
            }
            let requests = proxy.requests
            #expect(requests.filter { $0.status == 429 }.count == 2)
            // Each throttled request was repeated no sooner than Retry-After said.
            for (index, throttled) in requests.enumerated() where throttled.status == 429 {
                let retry = try #require(requests[(index + 1)...].first { $0.path == throttled.path && $0.method == throttled.method })
                #expect(retry.at - throttled.at >= .milliseconds(950))
            }
        }
    }

    @Test("A registry that keeps answering 429 fails with TOOMANYREQUESTS")
    func persistentTooManyRequests() async throws {
        var plan = FaultProxy.Plan()
        plan.tooManyRequests = 100
        plan.retryAfter = nil
        try await Self.withFaultyUpstream("fault-429-always", plan: plan) { dir, _, _, reference in
            try await LeaderHarness.with(dataDirectory: dir.sub("leader")) { leader in
                let status = try #require(try await leader.fetch([reference]).first)
                #expect(status.state == .failed)
                #expect(status.error?.code == "TOOMANYREQUESTS")
            }
        }
    }

    @Test("A schema 1 manifest is refused with advice, not reported as a digest mismatch")
    func schema1() async throws {
        var plan = FaultProxy.Plan()
        plan.schema1 = true
        try await Self.withFaultyUpstream("fault-schema1", plan: plan) { dir, _, _, reference in
            try await LeaderHarness.with(dataDirectory: dir.sub("leader")) { leader in
                let status = try #require(try await leader.fetch([reference]).first)
                #expect(status.state == .failed)
                #expect(status.error?.code == "UNSUPPORTED_MANIFEST")
                #expect(status.error?.message.contains("schema 1") == true)
                #expect(status.error?.message.contains("re-push") == true)
            }
        }
    }

    @Test("The real registry's own schema 1 rewrite is refused too")
    func realSchema1() async throws {
        try await withTemporaryDirectory("fault-schema1-real") { dir in
            try await TestRegistry.with(in: dir.sub("registry")) { registry in
                try await TestImages.make("\(registry.host)/demo/app:1", in: dir.path, layers: [.init("s1", "64K")], busybox: true)
                // distribution rewrites an image to schema 1 when the Accept header asks for nothing newer.
                let body = try await runChecked(
                    "/usr/bin/curl", ["-sf", "-H", "Accept: \(MediaType.dockerSchema1Signed)", "\(registry.url)/v2/demo/app/manifests/1"])
                #expect(throws: FerryError.self) {
                    _ = try ParsedManifest.decode(Array(body.utf8), contentType: MediaType.dockerSchema1Signed)
                }
            }
        }
    }

    @Test("A manifest over 4 MiB is refused")
    func oversizedManifest() async throws {
        var plan = FaultProxy.Plan()
        plan.oversizedManifest = true
        try await Self.withFaultyUpstream("fault-bigmanifest", plan: plan) { dir, _, _, reference in
            try await LeaderHarness.with(dataDirectory: dir.sub("leader")) { leader in
                let status = try #require(try await leader.fetch([reference]).first)
                #expect(status.state == .failed)
                #expect(status.error?.code == "MANIFEST_TOO_LARGE")
            }
        }
    }

    @Test("An unreachable registry fails with the host and the reason")
    func unreachable() async throws {
        try await withTemporaryDirectory("fault-unreachable") { dir in
            let port = try freePort()
            try await LeaderHarness.with(dataDirectory: dir.sub("leader")) { leader in
                let status = try #require(try await leader.fetch(["127.0.0.1:\(port)/demo/app:1"]).first)
                #expect(status.state == .failed)
                #expect(status.error?.code == "UPSTREAM_UNREACHABLE")
                #expect(status.error?.message.contains("127.0.0.1:\(port)") == true)
                #expect(status.error?.message.contains("connection refused") == true)
            }
        }
    }

    @Test("Not enough disk space: a clear error before writing, nothing half-written")
    func insufficientSpace() async throws {
        try await Self.withFaultyUpstream("fault-space") { dir, _, _, reference in
            // Keep more in reserve than the disk has: the check must refuse before any write.
            try await LeaderHarness.with(dataDirectory: dir.sub("leader"), { $0.store.reservedSpace = 1 << 60 }) { leader in
                let status = try #require(try await leader.fetch([reference]).first)
                #expect(status.state == .failed)
                #expect(status.error?.code == "INSUFFICIENT_SPACE")
                #expect(status.error?.message.contains("not enough disk space") == true)
                #expect(leader.store.allBlobs().isEmpty)
            }
        }
    }

    @Test("A data directory on a small tmpfs: the fetch fails with INSUFFICIENT_SPACE, the store stays clean",
          .requiresRoot("mounting a tmpfs"))
    func smallFilesystem() async throws {
        try await Self.withFaultyUpstream("fault-tmpfs") { dir, _, _, reference in
            try await Self.withTmpfs(at: dir.sub("small"), size: "3m") { mountPoint in
                try await LeaderHarness.with(dataDirectory: "\(mountPoint)/leader") { leader in
                    let status = try #require(try await leader.fetch([reference]).first)
                    #expect(status.state == .failed)
                    #expect(status.error?.code == "INSUFFICIENT_SPACE", "\(status.error?.message ?? "")")
                    #expect(try await expectStoreConsistent(leader.store))
                }
            }
        }
    }

    /// `body` with a tmpfs of `size` mounted at `mountPoint`, unmounted after whatever happens.
    static func withTmpfs(at mountPoint: String, size: String, _ body: (String) async throws -> Void) async throws {
        try FileManager.default.createDirectory(atPath: mountPoint, withIntermediateDirectories: true)
        try await runChecked("/bin/mount", ["-t", "tmpfs", "-o", "size=\(size)", "tmpfs", mountPoint])
        do {
            try await body(mountPoint)
        } catch {
            _ = try? await runProcess("/bin/umount", ["-l", mountPoint])
            throw error
        }
        // Lazily if busy: a process started meanwhile by a test running in parallel may hold
        // the mount (seen once as `umount` exit 32); the checks in `body` are what the test is about.
        if try await !runProcess("/bin/umount", [mountPoint]).succeeded {
            try await runChecked("/bin/umount", ["-l", mountPoint])
        }
    }
}

extension UpstreamFaultTests {
    @Test("A disk so full the database cannot write: admin writes get 507 saying what to do, a fetch whose end cannot be recorded is not retried in a loop upstream, and is recorded once space returns",
          .requiresRoot("mounting a tmpfs"))
    func fullDisk() async throws {
        var plan = FaultProxy.Plan()
        plan.tooManyRequests = 1
        plan.retryAfter = 3
        try await Self.withFaultyUpstream("fault-full", plan: plan) { dir, _, proxy, reference in
            try await Self.withTmpfs(at: dir.sub("full"), size: "16m") { mountPoint in
                try await LeaderHarness.with(dataDirectory: "\(mountPoint)/leader") { leader in
                    let id = try #require(try await leader.client.fetch(FetchRequest(images: [reference])).images.first?.id)
                    // While the leader waits out the 429's Retry-After, something else fills the disk.
                    _ = try await runProcess("/bin/dd", ["if=/dev/zero", "of=\(mountPoint)/ballast", "bs=1M", "count=64"])
                    do {
                        _ = try await leader.client.fetch(FetchRequest(images: ["\(proxy.host)/demo/other:1"]))
                        Issue.record("a fetch request was accepted on a full disk")
                    } catch let error as FerryError {
                        #expect(error.code == .insufficientSpace && error.message.contains("free some space"), "\(error)")
                    }
                    try await Task.sleep(for: .seconds(6))
                    let manifestRequests = proxy.requests.filter { $0.path.contains("/manifests/") }
                    #expect(manifestRequests.count <= 6, "\(manifestRequests.count) manifest requests upstream while the disk was full")
                    // Space returns: what happened is recorded, and the image can be fetched.
                    try FileManager.default.removeItem(atPath: "\(mountPoint)/ballast")
                    try await waitUntil("the fetch's end is recorded", timeout: .seconds(90)) { try await leader.client.image(id: id).isFinished }
                    let again = try #require(try await leader.fetch([reference]).first)
                    #expect(again.state == .present, "\(again.error?.message ?? "")")
                    #expect(try await expectStoreConsistent(leader.store))
                }
            }
        }
    }
}

extension TestRegistry {
    /// The total size of the blobs of `reference`'s manifest, read through `proxy`.
    static func blobSizes(of proxy: FaultProxy, reference: String) async throws -> Int64? {
        let parts = reference.split(separator: "/", maxSplits: 1)
        let repoTag = parts[1].split(separator: ":")
        let body = try await runChecked(
            "/usr/bin/curl", ["-sf", "-H", "Accept: \(MediaType.dockerManifest)", "http://\(parts[0])/v2/\(repoTag[0])/manifests/\(repoTag[1])"])
        guard case .image(let manifest, _) = try ParsedManifest.decode(Array(body.utf8), contentType: MediaType.dockerManifest) else { return nil }
        return manifest.blobs.reduce(0) { $0 + $1.size }
    }
}
