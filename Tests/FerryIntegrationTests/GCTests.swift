import FerryCoordinator
import FerryCore
import FerryMesh
import FerryRegistry
import FerryState
import FerryStore
import FerryTestSupport
import Foundation
import NIOCore
import Synchronization
import Testing

/// Garbage collection on a leader in this process, against the real registry: retention, dry
/// runs, and blobs in use (written, read by a slow client, targeted by a running install).
@Suite("Garbage collection on the leader", .serialized)
struct LeaderGCTests {
    @Test("Retention keeps exactly the last K versions of each repository; --dry-run removes nothing")
    func retention() async throws {
        try await withTemporaryDirectory("gc-keep") { dir in
            try await TestRegistry.with(in: dir.sub("registry")) { registry in
                var references: [String] = []
                for n in 1...3 {
                    references.append("\(registry.host)/demo/app:\(n)")
                    try await TestImages.make(references.last!, in: dir.path, layers: [.init("gk-base", "1M"), .init("gk-app\(n)", "1M")])
                }
                references.append("\(registry.host)/demo/other:1")
                try await TestImages.make(references.last!, in: dir.path, layers: [.init("gk-other", "512K")])
                try await LeaderHarness.with(dataDirectory: dir.sub("leader")) { leader in
                    var images: [ImageStatus] = []
                    for reference in references { images += try await leader.fetch([reference]) }  // one after the other: fetch order
                    #expect(images.allSatisfy { $0.state == .present })
                    let blobs = try await leader.blobs(of: images)
                    let unique = blobs[0].subtracting(blobs[1]).subtracting(blobs[2]).subtracting(blobs[3])
                    #expect(unique.count == 2, "the config and the layer of app:1")
                    let stored = Set(leader.store.allBlobs())

                    let dry = try await leader.gc(keep: 2, dryRun: true)
                    #expect(dry.dryRun && dry.node == "leader")
                    #expect(dry.images.map(\.reference) == [images[0].reference])
                    #expect(Set(dry.blobs.map(\.digest)) == unique)
                    #expect(Set(leader.store.allBlobs()) == stored, "a dry run removes nothing")
                    #expect(try await leader.client.images().images.count == 4)

                    let report = try await leader.gc(keep: 2)
                    #expect(!report.dryRun)
                    #expect(report.images == dry.images)
                    #expect(report.blobs == dry.blobs)
                    #expect(report.bytesFreed == report.blobs.reduce(0) { $0 + $1.size })
                    #expect(report.manifests.map(\.description) == [images[0].manifestDigest])
                    #expect(Set(leader.store.allBlobs()) == stored.subtracting(unique))
                    #expect(Set(try await leader.client.images().images.map(\.reference)) == Set(images.dropFirst().map(\.reference)))
                    #expect(try await expectStoreConsistent(leader.store))
                    #expect(try await leader.registryStatus("/v2/demo/app/manifests/1?ns=\(registry.host)") == "404")
                    #expect(try await leader.registryStatus("/v2/demo/app/manifests/2?ns=\(registry.host)") == "200")

                    // Exactly K: the same retention again removes nothing; K = 1 drops app:2, never other:1.
                    let again = try await leader.gc(keep: 2)
                    #expect(again.images.isEmpty && again.blobs.isEmpty && again.manifests.isEmpty)
                    #expect(try await leader.gc(keep: 1).images.map(\.reference) == [images[1].reference])
                    #expect(leader.store.allBlobs().count == blobs[2].union(blobs[3]).count)
                    // A dropped version is fetched again on request.
                    #expect(try await leader.fetch([references[0]]).first?.state == .present)
                    #expect(blobs[0].isSubset(of: Set(leader.store.allBlobs())))
                }
            }
        }
    }

    @Test("A blob in use is never removed: read by a slow client, being written, or targeted by a running install")
    func inUseBlobsStay() async throws {
        try await withTemporaryDirectory("gc-inuse") { dir in
            try await TestRegistry.with(in: dir.sub("registry")) { registry in
                let references = (1...3).map { "\(registry.host)/demo/app:\($0)" }
                try await TestImages.make(references[0], in: dir.path, layers: [.init("gu-slow", "32M")])
                try await TestImages.make(references[1], in: dir.path, layers: [.init("gu-two", "256K")])
                try await TestImages.make(references[2], in: dir.path, layers: [.init("gu-three", "256K")])
                try await LeaderHarness.with(dataDirectory: dir.sub("leader"), { $0.insecureMesh = true }) { leader in
                    let v1 = try #require(try await leader.fetch([references[0]]).first)
                    let v2 = try #require(try await leader.fetch([references[1]]).first)
                    let layer = try #require(try await leader.client.image(id: v1.id).blobs?.max { $0.size < $1.size })
                    let digest = try Digest(parsing: layer.digest)

                    // 1. A client in the middle of reading the layer through /v2/: it sent the
                    // request and reads nothing, with a 64 KiB receive buffer, so the server waits
                    // on a full socket with the blob open (32 MiB is far more than that buffer, the
                    // server's socket and its channel hold; a client with the kernel's autotuned
                    // buffer could take the whole blob on some machines).
                    let port = try #require(URL(string: leader.url)?.port)
                    let client = try await RawHTTPConnection.connect(port: port, receiveBuffer: 64 * 1024)
                    defer { client.close() }
                    await client.send(
                        "GET /v2/demo/app/blobs/\(digest) HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                            + "Authorization: Bearer \(leader.service.adminToken)\r\n\r\n")
                    try await waitUntil("the server opens the blob for the client") { leader.store.use(of: digest) == .reading }
                    let reading = try await leader.gc(keep: 1)
                    #expect(reading.images.map(\.reference) == [v1.reference], "app:1 is dropped by retention")
                    #expect(reading.inUse.map(\.digest) == [digest])
                    #expect(reading.inUse.first?.reason == "being read")
                    #expect(!reading.blobs.map(\.digest).contains(digest))
                    #expect(leader.store.contains(digest))
                    let response = try #require(await client.readResponse(timeout: .seconds(120)))
                    #expect(response.status == 200)
                    #expect(response.body.count == layer.size)
                    #expect(Digest.sha256(of: response.body) == digest)
                    client.close()
                    try await waitUntil("the server ends the read") { leader.store.use(of: digest) == nil }
                    // Once the read is over, the next collection takes it.
                    #expect(try await leader.gc().blobs.map(\.digest) == [digest])

                    // 2. A blob no image references, half written.
                    let bytes = [UInt8](repeating: 7, count: 3000)
                    let written = Digest.sha256(of: bytes)
                    let ingest = try await leader.store.ingest(written, expectedSize: 3000)
                    try await ingest.write(ByteBuffer(bytes: bytes[..<1000]))
                    let writing = try await leader.gc()
                    #expect(writing.inUse.map(\.digest) == [written])
                    #expect(writing.inUse.first?.reason == "being written")
                    #expect(leader.store.partialIngests().map(\.digest) == [written])
                    try await ingest.write(ByteBuffer(bytes: bytes[1000...]))
                    try await ingest.commit()
                    #expect(leader.store.contains(written))
                    #expect(try await leader.gc().blobs.map(\.digest) == [written], "unreferenced once written")

                    // 3. An older version a running install targets.
                    let v3 = try #require(try await leader.fetch([references[2]]).first)
                    let node = try await leader.service.database.join(name: "n1", address: nil, platform: "linux/amd64", credentialHash: "unused")
                    _ = try await leader.service.database.createInstall(
                        InstallRecord(maxParallel: 1, platform: nil, deadlineAt: nil), targets: [(node.id!, [v2.id])])
                    let pinned = try await leader.gc(keep: 1)
                    #expect(pinned.images.isEmpty, "app:2 is older than app:3 but a running install targets it")
                    let kept = try await leader.blobs(of: [v2, v3])
                    #expect(kept[0].union(kept[1]).isSubset(of: Set(leader.store.allBlobs())))
                    #expect(try await expectStoreConsistent(leader.store))
                }
            }
        }
    }

    @Test("Collection running over and over while images are fetched (and a tag moves) loses nothing")
    func collectionDuringFetches() async throws {
        try await withTemporaryDirectory("gc-race") { dir in
            try await TestRegistry.with(in: dir.sub("registry")) { registry in
                let moving = "\(registry.host)/demo/app:latest"
                try await TestImages.make(moving, in: dir.path, layers: [.init("gr-base", "2M"), .init("gr-v1", "1M")])
                let others = (1...4).map { "\(registry.host)/demo/r\($0):1" }
                for (index, reference) in others.enumerated() {
                    try await TestImages.make(reference, in: dir.path, layers: [.init("gr-base", "2M"), .init("gr-r\(index)", "3M")])
                }
                try await LeaderHarness.with(dataDirectory: dir.sub("leader"), { $0.registry.rateLimit = 8 * 1024 * 1024 }) { leader in
                    let first = try #require(try await leader.fetch([moving]).first)
                    let old = try await leader.blobs(of: [first])[0]
                    try await TestImages.make(moving, in: dir.path, layers: [.init("gr-base", "2M"), .init("gr-v2", "1M")])

                    let collections = Task {
                        var runs = 0
                        while !Task.isCancelled {
                            do {
                                _ = try await leader.gc(keep: runs % 2 == 0 ? nil : 1)
                            } catch where Task.isCancelled {
                                break  // stopped mid-request once the fetches were done
                            }
                            runs += 1
                            try? await Task.sleep(for: .milliseconds(30))
                        }
                        return runs
                    }
                    let statuses = try await withThrowingTaskGroup(of: [ImageStatus].self) { group in
                        for reference in others + [moving] { group.addTask { try await leader.fetch([reference]) } }
                        return try await group.reduce(into: []) { $0 += $1 }
                    }
                    collections.cancel()
                    let runs = try await collections.value
                    #expect(runs >= 3, "collections ran while fetching: \(runs)")
                    #expect(statuses.count == 5)
                    #expect(statuses.allSatisfy { $0.state == .present }, "\(statuses.map { "\($0.reference) \($0.state)" })")
                    // Every image the leader holds has every blob, intact.
                    let held = Set(leader.store.allBlobs())
                    for image in try await leader.client.images().images {
                        #expect(image.state == .present)
                        let needed = try await leader.blobs(of: [image])[0]
                        #expect(needed.isSubset(of: held), "\(image.reference) lost \(needed.subtracting(held))")
                    }
                    #expect(try await expectStoreConsistent(leader.store))
                    // The old content of the moved tag goes; the layer it shares with the new one stays.
                    let final = try await leader.gc()
                    let current = try await leader.blobs(of: [try #require(statuses.first { $0.reference == first.reference })])[0]
                    #expect(old.subtracting(current).isDisjoint(with: Set(leader.store.allBlobs())))
                    #expect(current.isSubset(of: Set(leader.store.allBlobs())))
                    #expect(final.inUse.isEmpty)
                }
            }
        }
    }

    @Test("Past the high watermark, collection frees least recently used unreferenced blobs down to the low one: before a download, and periodically")
    func watermarks() async throws {
        try await withTemporaryDirectory("gc-mark") { dir in
            try await TestRegistry.with(in: dir.sub("registry")) { registry in
                let references = (1...3).map { "\(registry.host)/demo/app:\($0)" }
                for (index, reference) in references.enumerated() {
                    try await TestImages.make(reference, in: dir.path, layers: [.init("gw-base", "1M"), .init("gw-\(index)", "1M")])
                }
                // The store's "disk": what its blobs take, out of a capacity the test sets.
                let capacity = Mutex<Int64>(5 * 1024 * 1024)
                func configure(interval: Duration) -> (inout LeaderConfiguration) -> Void {
                    { configuration in
                        configuration.garbageCollection = GarbageCollectionConfiguration(
                            highWatermark: 0.70, lowWatermark: 0.62, keep: 1, interval: interval,
                            diskUsage: { store in
                                let used = store.storedBlobs().reduce(0) { $0 + $1.bytes }
                                return DiskUsage(used: used, available: capacity.withLock { $0 } - used)
                            })
                    }
                }
                var images: [ImageStatus] = []
                var blobs: [Set<Digest>] = []
                var layers: [Digest] = []
                // Only downloads trigger collection here (the periodic check waits an hour).
                try await LeaderHarness.with(dataDirectory: dir.sub("leader"), configure(interval: .seconds(3600))) { leader in
                    var sizes: [Digest: Int64] = [:]
                    for reference in references {
                        let image = try #require(try await leader.fetch([reference]).first)
                        #expect(image.state == .present)
                        images.append(image)
                        for blob in try await leader.client.image(id: image.id).blobs ?? [] { sizes[try Digest(parsing: blob.digest)] = blob.size }
                        blobs += try await leader.blobs(of: [image])
                    }
                    // Each version's own layer: its biggest blob no other version has.
                    for (index, own) in blobs.enumerated() {
                        let others = blobs.enumerated().filter { $0.offset != index }.reduce(Set<Digest>()) { $0.union($1.element) }
                        layers.append(try #require(own.subtracting(others).max { sizes[$0, default: 0] < sizes[$1, default: 0] }))
                    }
                    // Before app:3's layer came in, usage would have passed 70%: app:1 (the oldest
                    // version beyond K = 1; app:3 was being fetched) went, its layer freeing enough.
                    #expect(try await leader.client.images().images.map(\.reference) == [images[1].reference, images[2].reference])
                    #expect(!leader.store.contains(layers[0]))
                    #expect(blobs[1].union(blobs[2]).isSubset(of: Set(leader.store.allBlobs())))
                    let used = leader.store.storedBlobs().reduce(0) { $0 + $1.bytes }
                    #expect(Double(used) <= 0.62 * Double(5 * 1024 * 1024))
                }
                // A smaller disk: the periodic check finds usage above 70% and drops app:2.
                capacity.withLock { $0 = 4 * 1024 * 1024 }
                try await LeaderHarness.with(dataDirectory: dir.sub("leader"), configure(interval: .milliseconds(100))) { leader in
                    let layer2 = layers[1]
                    try await waitUntil("the periodic collection removes app:2's layer") { !leader.store.contains(layer2) }
                    #expect(try await leader.client.images().images.map(\.reference) == [images[2].reference])
                    #expect(blobs[2].isSubset(of: Set(leader.store.allBlobs())))
                    let used = leader.store.storedBlobs().reduce(0) { $0 + $1.bytes }
                    #expect(Double(used) <= 0.62 * Double(4 * 1024 * 1024))
                }
            }
        }
    }
}

/// Garbage collection in a cluster of real processes, each follower with its own `dockerd`.
@Suite("Garbage collection in a cluster", .serialized, .requiresRoot("dockerd"))
struct ClusterGCTests {
    @Test("Collection on the leader and every follower, over and over during concurrent installs, loses nothing")
    func collectionDuringInstalls() async throws {
        // 4 MiB/s from the leader: the installs take long enough for several rounds of collection
        // even when `ferry gc` starts slowly on a loaded machine.
        try await TestCluster.with("gcrun", nodes: ["n1", "n2"], leaderArguments: ["--max-upload-rate", "4MiB/s"]) { cluster in
            let base: [TestImages.Layer] = [.init("gi-base", "4M")]
            let app1 = try await cluster.push("demo/app:1", layers: base + [.init("gi-app1", "4M")])
            let app2 = try await cluster.push("demo/app:2", layers: base + [.init("gi-app2", "4M")])
            let other = try await cluster.push("demo/other:1", layers: [.init("gi-other", "6M")])
            let third = try await cluster.push("demo/third:1", layers: base + [.init("gi-third", "2M")])
            let directories = ["n1", "n2"].map { cluster.nodes[$0]!.directory }
            // Stopped between rounds, not cancelled: a cancelled task kills the `ferry gc` it is running.
            let stop = StopFlag()
            let collections = Task {
                var runs = 0
                while !stop.isSet {
                    for arguments in [["gc", "--keep", "1"]] + directories.map({ ["gc", "--data-dir", $0, "--keep", "1"] }) {
                        let result = try await cluster.ferry(arguments)
                        #expect(result.status == 0, "\(arguments): \(result.stderr)")
                    }
                    runs += 1
                    try? await Task.sleep(for: .milliseconds(100))
                }
                return runs
            }
            let results = try await withThrowingTaskGroup(of: ProcessResult.self) { group in
                group.addTask { try await cluster.ferry(["install", app1, other]) }
                group.addTask { try await cluster.ferry(["install", app2, third]) }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            stop.set()
            let runs = try await collections.value
            #expect(runs >= 2, "collections ran during the installs: \(runs)")
            for result in results { #expect(result.status == 0, "\(result.stdout)\n\(result.stderr)") }
            for node in ["n1", "n2"] {
                for (reference, repoTag) in [(app1, "demo/app:1"), (app2, "demo/app:2"), (other, "demo/other:1"), (third, "demo/third:1")] {
                    let run = try await cluster.engine(node).run(reference)
                    #expect(run.stdout.contains("ferry-image \(repoTag) ok"), "\(node) \(repoTag): \(run.stderr)")
                }
            }
            for directory in [cluster.leader.dataDirectory] + directories {
                #expect(try await expectStoreConsistent(try BlobStore(root: "\(directory)/store")), "\(directory)")
            }
            // The leader kept every image the installs named until they finished.
            let installs = try await cluster.admin.installs().installs
            #expect(installs.count == 2 && installs.allSatisfy { $0.state == .done })
        }
    }

    @Test("A follower's collection tells the leader, whose tracker stops sending peers there for those blobs")
    func followerGCSendsGone() async throws {
        try await TestCluster.with("gcgone", nodes: ["a", "b"]) { cluster in
            let v1 = try await cluster.push("demo/app:1", layers: [.init("gg-base", "2M"), .init("gg-one", "4M")])
            let v2 = try await cluster.push("demo/app:2", layers: [.init("gg-base", "2M"), .init("gg-two", "4M")])
            #expect(try await cluster.ferry(["install", v1, "--nodes", "a"]).status == 0)
            #expect(try await cluster.ferry(["install", v2, "--nodes", "a"]).status == 0)
            let images = try await cluster.admin.images().images
            func digests(_ reference: String) async throws -> Set<Digest> {
                let id = try #require(images.first { $0.reference == reference }).id
                return Set(try #require(try await cluster.admin.image(id: id).blobs).map { try Digest(parsing: $0.digest) })
            }
            let unique = try await digests(v1).subtracting(try await digests(v2))
            #expect(unique.count == 2)
            let directory = cluster.nodes["a"]!.directory
            let store = try BlobStore(root: "\(directory)/store")

            let dry = try await cluster.ferry(["gc", "--data-dir", directory, "--keep", "1", "--dry-run", "--json"])
            #expect(dry.status == 0, "\(dry.stderr)")
            let planned = try FerryJSON.decoder().decode(GarbageCollectionReport.self, from: Data(dry.stdout.utf8))
            #expect(planned.node == "a" && planned.dryRun)
            #expect(planned.images.map(\.reference) == [v1])
            #expect(Set(planned.blobs.map(\.digest)) == unique)
            #expect(unique.allSatisfy(store.contains))

            let collected = try await cluster.ferry(["gc", "--data-dir", directory, "--keep", "1"])
            #expect(collected.status == 0, "\(collected.stderr)")
            #expect(collected.stdout.hasPrefix("a: removed 1 image, 2 blobs"), "\(collected.stdout)")
            // One indented line per image and blob under the summary (docs/gc.md).
            #expect(collected.stdout.contains("\n  image  \(v1) (linux/"), "\(collected.stdout)")
            #expect(collected.stdout.split(separator: "\n").filter { $0.hasPrefix("  blob   sha256:") }.count == 2, "\(collected.stdout)")
            #expect(!unique.contains(where: store.contains))
            #expect(try await digests(v2).allSatisfy(store.contains))

            // b installs app:1: the tracker knows a no longer has its own blobs and never sends b there.
            #expect(try await cluster.ferry(["install", v1, "--nodes", "b"]).status == 0)
            #expect(!cluster.followerLog("b").contains("source failed"), "\(cluster.followerLog("b").suffix(3000))")
            #expect(try await cluster.engine("b").run(v1).stdout.contains("ferry-image demo/app:1 ok"))
            // a still runs both: its store is only a cache of what it installed.
            #expect(try await cluster.engine("a").run(v1).stdout.contains("ferry-image demo/app:1 ok"))

            // The local route takes the node's own credential only.
            let follower = try cluster.followerCurl("a")
            let url = "\(follower.base)\(AdminAPI.gc)"
            for token in [cluster.leader.token, try cluster.followerCredential("b")] {
                let refused = try await runProcess(
                    "/usr/bin/curl",
                    ["-s", "-o", "/dev/null", "-w", "%{http_code}"] + follower.arguments + ["-X", "POST", "-H", "Authorization: Bearer \(token)",
                     "-d", "{}", url])
                #expect(refused.stdout == "401")
            }
        }
    }
}

extension LeaderHarness {
    func gc(keep: Int? = nil, dryRun: Bool = false) async throws -> GarbageCollectionReport {
        try await client.collectGarbage(GarbageCollectionRequest(keep: keep, dryRun: dryRun))
    }

    /// The blobs of each image, as the leader lists them.
    func blobs(of images: [ImageStatus]) async throws -> [Set<Digest>] {
        var result: [Set<Digest>] = []
        for image in images {
            let detail = try await client.image(id: image.id)
            result.append(Set(try (detail.blobs ?? []).map { try Digest(parsing: $0.digest) }))
        }
        return result
    }

    /// The cluster CA when the leader serves TLS, nil for plain HTTP.
    var caFile: String? {
        let ca = "\(dataDirectory)/ca.pem"
        return url.hasPrefix("https://") && FileManager.default.fileExists(atPath: ca) ? ca : nil
    }

    /// `--cacert` for curl when the leader serves TLS.
    var caArguments: [String] { caFile.map { ["--cacert", $0] } ?? [] }

    /// The HTTP status of a GET on the leader's `/v2/` API with the admin token.
    func registryStatus(_ path: String) async throws -> String {
        try await runProcess(
            "/usr/bin/curl",
            ["-s", "-o", "/dev/null", "-w", "%{http_code}", "-H", "Authorization: Bearer \(service.adminToken)"] + caArguments + [url + path]
        ).stdout
    }
}

/// A flag one task sets and another polls.
final class StopFlag: Sendable {
    private let flag = Mutex(false)
    var isSet: Bool { flag.withLock { $0 } }
    func set() { flag.withLock { $0 = true } }
}
