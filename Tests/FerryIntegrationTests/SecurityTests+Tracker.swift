import FerryCore
import FerryMesh
import FerryTestSupport
import Foundation
import Testing

/// Only first-hand evidence counts (docs/mesh.md, *Evidence*): a liar can slow only itself.
extension SecurityTests {
    /// A two-follower cluster (a, b), two images the leader has fetched (two layers each), and a
    /// liar `mallory` serving lies about every blob of both from its own server, heartbeating.
    static func withLiar(
        _ label: String, serving: MaliciousNode.Serving,
        _ body: (TestCluster, MaliciousNode, LyingServer, [String], [[(digest: FerryCore.Digest, size: Int64)]]) async throws -> Void
    ) async throws {
        try await TestCluster.with(label, nodes: ["a", "b"]) { cluster in
            var references: [String] = []
            var blobs: [[(digest: FerryCore.Digest, size: Int64)]] = []
            for index in 1...2 {
                let reference = try await cluster.push(
                    "demo/app:\(index)", layers: [.init("\(label)\(index)x", "1M"), .init("\(label)\(index)y", "1M")])
                references.append(reference)
                blobs.append(try await cluster.fetchedBlobs(reference))
            }
            let liar = try await MaliciousNode.join(cluster, name: "mallory")
            for reference in references { try await liar.enlist(in: cluster, reference) }
            var truth: [FerryCore.Digest: [UInt8]] = [:]
            for blob in blobs.joined() {
                truth[blob.digest] = try await liar.blob(blob.digest, repository: "demo/app", into: cluster.dir.path)
            }
            let server = try await liar.serve(serving, blobs: truth)
            let alive = liar.keepAlive(address: server.url)
            try await waitUntil("mallory is reachable", timeout: .seconds(10)) {
                try await cluster.admin.nodes().nodes.first { $0.name == "mallory" }?.state == .reachable
            }
            do {
                try await body(cluster, liar, server, references, blobs)
            } catch {
                alive.cancel()
                await server.stop()
                throw error
            }
            alive.cancel()
            await server.stop()
        }
    }

    static func flags(_ cluster: TestCluster) async throws -> [String: Int] {
        Dictionary(uniqueKeysWithValues: try await cluster.admin.nodes().nodes.map { ($0.name, $0.corruptTransfers) })
    }

    @Test("Fake corrupt reports naming the leader and honest nodes block nothing and flag nobody")
    func fakeCorruptReports() async throws {
        try await TestCluster.with("secfake", nodes: ["a", "b"]) { cluster in
            let reference = try await cluster.push("demo/app:1", layers: [.init("fk1", "1M"), .init("fk2", "1M")])
            #expect(try await cluster.ferry(["install", reference, "--nodes", "a"]).status == 0)
            let blobs = try await cluster.fetchedBlobs(reference)
            let liar = try await MaliciousNode.join(cluster, name: "mallory")
            try await liar.enlist(in: cluster, reference)
            for (index, blob) in blobs.enumerated() {
                // Half asked for sources first (the tracker handed it some), half never did.
                if index % 2 == 0 { _ = try await liar.sources(for: blob.digest, size: blob.size, repository: "demo/app") }
                try await liar.report([BlobEvent(digest: blob.digest, kind: .corrupt, size: blob.size, sources: ["leader", "a", "b"])])
            }
            let install = try await cluster.ferry(["install", reference, "--nodes", "b", "--deadline", "40s"])
            #expect(install.status == 0, "\(install.stderr)")
            let flags = try await Self.flags(cluster)
            #expect(flags["a"] == 0 && flags["b"] == 0, "\(flags)")
        }
    }

    @Test(
        "A liar serving bad bytes is excluded after first-hand reports; installs succeed, the leader not blamed",
        arguments: [
            ("secwrong", MaliciousNode.Serving.wrong), ("seclong", .long(extra: 4096)), ("secshort", .short(bytes: 1000)),
            ("secstall", .stall(seconds: 30)), ("secdrip", .drip(seconds: 3)),
        ])
    func liarIsExcluded(label: String, serving: MaliciousNode.Serving) async throws {
        try await Self.withLiar(label, serving: serving) { cluster, liar, server, references, blobs in
            for blob in blobs.joined() { try await liar.claimHolding(blob.digest, size: blob.size, repository: "demo/app") }
            let first = try await cluster.ferry(["install", references[0], "--nodes", "a,b", "--deadline", "60s"])
            #expect(first.status == 0, "\(first.stderr)")
            let tried = server.requests
            #expect(tried > 0, "the honest nodes were sent to the liar first")
            // Both honest nodes reported what they saw: the liar is not chosen again, for any blob.
            let second = try await cluster.ferry(["install", references[1], "--nodes", "a,b", "--deadline", "60s"])
            #expect(second.status == 0, "\(second.stderr)")
            #expect(server.requests == tried, "asked the liar again after reporting it")
            let flags = try await Self.flags(cluster)
            #expect(flags["a"] == 0 && flags["b"] == 0, "\(flags)")
        }
    }

    @Test("Claims without downloads do not make honest nodes wait on the liar")
    func claimsWithoutDownloads() async throws {
        try await Self.withLiar("secclaim", serving: .stall(seconds: 30)) { cluster, liar, server, references, blobs in
            // Never handed a source for these blobs: its claims do not count.
            for blob in blobs[0] {
                try await liar.claimPresent(blob.digest, size: blob.size)
                try await liar.report([BlobEvent(digest: blob.digest, kind: .receiving, size: blob.size, sources: ["leader"])])
            }
            let started = ContinuousClock.now
            let first = try await cluster.ferry(["install", references[0], "--nodes", "a,b", "--deadline", "60s"])
            #expect(first.status == 0, "\(first.stderr)")
            #expect(server.requests == 0, "an honest node was sent to the liar")
            #expect(ContinuousClock.now - started < .seconds(20))
            // Asking for sources without downloading lists it as receiving: an honest node sent to it
            // sees it stall once, reports it and avoids it; two such reports flag it in `ferry nodes`.
            for blob in blobs[1] { _ = try await liar.sources(for: blob.digest, size: blob.size, repository: "demo/app") }
            let second = try await cluster.ferry(["install", references[1], "--nodes", "a,b", "--deadline", "60s"])
            #expect(second.status == 0, "\(second.stderr)")
            if server.requests > 0 {
                let flags = try await Self.flags(cluster)
                #expect((flags["mallory"] ?? 0) > 0 || server.requests == 1, "\(flags)")
            }
        }
    }
}
