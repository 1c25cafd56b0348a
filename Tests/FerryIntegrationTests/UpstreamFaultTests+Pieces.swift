import FerryCoordinator
import FerryCore
import FerryMesh
import FerryStore
import FerryTestSupport
import Foundation
import Testing

/// `--blob-connections`: a large blob over several connections at once, in ordered pieces
/// (`PiecedDownload`), against the real registry behind a ``FaultProxy``.
extension UpstreamFaultTests {
    static let piece: Int64 = 8 << 20

    /// A registry with `demo/big:1` (one 20 MiB layer) behind a proxy with `plan`, and a leader
    /// that downloads blobs of 1 MiB or more over two connections.
    static func withLargeLayer(
        _ label: String, plan: FaultProxy.Plan, _ body: (LeaderHarness, FaultProxy, String) async throws -> Void
    ) async throws {
        try await withTemporaryDirectory(label) { dir in
            try await TestRegistry.with(in: dir.sub("registry")) { registry in
                try await TestImages.make("\(registry.host)/demo/big:1", in: dir.path, layers: [.init("big", "20M")], busybox: false)
                let proxy = try await FaultProxy.start(upstream: registry.url, plan: plan)
                do {
                    try await LeaderHarness.with(dataDirectory: dir.sub("leader"), {
                        $0.serialDownloadSize = 1 << 20
                        $0.blobConnections = 2
                    }) { leader in
                        try await body(leader, proxy, "\(proxy.host)/demo/big:1")
                    }
                    await proxy.stop()
                } catch {
                    await proxy.stop()
                    throw error
                }
            }
        }
    }

    /// The GETs of the 20 MiB layer the proxy saw.
    static func layerGets(_ proxy: FaultProxy, _ status: ImageStatus) throws -> (size: Int64, gets: [FaultProxy.Seen]) {
        let layer = try #require(status.blobs?.max { $0.size < $1.size })
        return (layer.size, proxy.requests.filter { $0.method == "GET" && $0.path.hasSuffix("/blobs/\(layer.digest)") })
    }

    @Test("A large blob comes over two connections at once in 8 MiB pieces, in order, and upstream sends it once")
    func largeBlobInPieces() async throws {
        var plan = FaultProxy.Plan()
        plan.blobRate = 8 << 20  // per connection: a piece takes about a second
        try await Self.withLargeLayer("pieces", plan: plan) { leader, proxy, reference in
            let status = try #require(try await leader.fetch([reference]).first)
            #expect(status.state == .present, "\(status.error?.message ?? "")")
            #expect(try await expectStoreConsistent(leader.store))
            let (size, gets) = try Self.layerGets(proxy, status)
            // Three pieces, each asked for exactly once with its bounds, each answered 206.
            let expected = [0, 1, 2].map { index -> String in
                let start = Int64(index) * Self.piece
                return "bytes=\(start)-\(min(start + Self.piece, size) - 1)"
            }
            #expect(gets.compactMap(\.range).sorted() == expected.sorted())
            #expect(gets.allSatisfy { $0.status == 206 })
            #expect(gets.reduce(0) { $0 + $1.bytes } == size, "upstream sent the layer once")
            // Two connections at once: a piece's GET started before another's last byte.
            let overlapping = gets.contains { a in
                gets.contains { b in a.range != b.range && b.at < (a.lastByteAt ?? a.at) && a.at < (b.lastByteAt ?? b.at) }
            }
            #expect(overlapping, "the pieces came one after the other")
        }
    }

    @Test("A piece cut off mid-stream, or answered short, resumes within its bounds; a registry that ignores Range gets one plain GET")
    func piecesResumeAndFallBack() async throws {
        var drops = FaultProxy.Plan()
        drops.dropBlobAfter = 3 << 20
        drops.drops = 2
        try await Self.withLargeLayer("pieces-drop", plan: drops) { leader, proxy, reference in
            let status = try #require(try await leader.fetch([reference]).first)
            #expect(status.state == .present, "\(status.error?.message ?? "")")
            #expect(try await expectStoreConsistent(leader.store))
            let (size, gets) = try Self.layerGets(proxy, status)
            // Every GET asked for a bounded range inside one piece; the two cut ones were resumed.
            let bounds = gets.compactMap { get -> (Int64, Int64)? in
                guard let range = get.range?.dropFirst(6).split(separator: "-"), range.count == 2,
                    let first = Int64(range[0]), let last = Int64(range[1])
                else { return nil }
                return (first, last)
            }
            #expect(bounds.count == gets.count, "an unbounded GET: \(gets.map(\.range))")
            #expect(bounds.allSatisfy { $0.0 / Self.piece == $0.1 / Self.piece })
            #expect(gets.count == 5, "3 pieces + 2 resumes: \(gets.map(\.range))")
            #expect(gets.reduce(0) { $0 + $1.bytes } < size + 2 * (3 << 20))
        }
        var capped = FaultProxy.Plan()
        capped.capRange = 3 << 20
        try await Self.withLargeLayer("pieces-short", plan: capped) { leader, proxy, reference in
            let status = try #require(try await leader.fetch([reference]).first)
            #expect(status.state == .present, "\(status.error?.message ?? "")")
            #expect(try await expectStoreConsistent(leader.store))
            // Each 206 carried at most 3 MiB: every piece was asked for again from where its answer ended.
            let (size, gets) = try Self.layerGets(proxy, status)
            #expect(gets.count >= 7 && gets.allSatisfy { $0.status == 206 }, "\(gets.map(\.range))")
            #expect(gets.reduce(0) { $0 + $1.bytes } == size, "upstream sent the layer once")
        }
        var ignored = FaultProxy.Plan()
        ignored.ignoreRange = true
        try await Self.withLargeLayer("pieces-norange", plan: ignored) { leader, proxy, reference in
            let status = try #require(try await leader.fetch([reference]).first)
            #expect(status.state == .present, "\(status.error?.message ?? "")")
            #expect(try await expectStoreConsistent(leader.store))
            let (size, gets) = try Self.layerGets(proxy, status)
            // The piece GETs came back 200 (whole blob) and were dropped unread; one GET then took the blob.
            #expect(gets.filter { $0.bytes == size }.count == 1)
        }
    }

    @Test("Corrupt bytes in a piece fail the blob's digest: nothing is committed, the fetch fails with the digest error")
    func corruptPiece() async throws {
        var plan = FaultProxy.Plan()
        plan.corruptBlobs = true
        try await Self.withLargeLayer("pieces-corrupt", plan: plan) { leader, _, reference in
            let status = try #require(try await leader.fetch([reference]).first)
            #expect(status.state == .failed)
            #expect(status.error?.code == FerryError.Code.digestMismatch.rawValue, "\(status.error?.message ?? "")")
            #expect(try await expectStoreConsistent(leader.store))
            #expect(leader.store.allBlobs().allSatisfy { leader.store.size(of: $0) ?? 0 < 1 << 20 }, "the layer was committed")
        }
    }

    @Test("A blob whose pieces would not fit beside it on disk comes over one connection", .requiresRoot("mounting a tmpfs"))
    func piecesNeedRoom() async throws {
        try await withTemporaryDirectory("pieces-room") { dir in
            try await TestRegistry.with(in: dir.sub("registry")) { registry in
                try await TestImages.make("\(registry.host)/demo/big:1", in: dir.path, layers: [.init("big", "20M")], busybox: false)
                let proxy = try await FaultProxy.start(upstream: registry.url)
                let mountPoint = dir.sub("small")
                try FileManager.default.createDirectory(atPath: mountPoint, withIntermediateDirectories: true)
                // Room for the 20 MiB layer once, not twice.
                try await runChecked("/bin/mount", ["-t", "tmpfs", "-o", "size=34m", "tmpfs", mountPoint])
                do {
                    try await LeaderHarness.with(dataDirectory: "\(mountPoint)/leader", {
                        $0.serialDownloadSize = 1 << 20
                        $0.blobConnections = 2
                        $0.store = BlobStoreConfiguration(reservedSpace: 0)
                    }) { leader in
                        let status = try #require(try await leader.fetch(["\(proxy.host)/demo/big:1"]).first)
                        #expect(status.state == .present, "\(status.error?.message ?? "")")
                        #expect(try await expectStoreConsistent(leader.store))
                        let (size, gets) = try Self.layerGets(proxy, status)
                        #expect(gets.count == 1 && gets.first?.range == nil && gets.first?.bytes == size, "\(gets.map(\.range))")
                    }
                    await proxy.stop()
                } catch {
                    await proxy.stop()
                    _ = try? await runProcess("/bin/umount", ["-l", mountPoint])
                    throw error
                }
                if try await !runProcess("/bin/umount", [mountPoint]).succeeded {
                    try await runChecked("/bin/umount", ["-l", mountPoint])
                }
            }
        }
    }
}
