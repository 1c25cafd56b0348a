import FerryCore
import FerryTestSupport
import Foundation
import NIOCore
import Testing

@testable import FerryDocker

/// The client against scripted engine answers: versions other than 20.10's, failures under
/// HTTP 200, and the full-archive fallback.
@Suite("DockerClient against a scripted engine")
struct FakeEngineTests {
    static func withEngine(apiVersion: String?, serverVersion: String = "20.10.24", _ body: (FakeEngine, DockerClient) async throws -> Void)
        async throws
    {
        let engine = try await FakeEngine.start(apiVersion: apiVersion, serverVersion: serverVersion)
        let client = try DockerClient(host: engine.socket)
        do {
            try await body(engine, client)
        } catch {
            try? await client.shutdown()
            await engine.stop()
            throw error
        }
        try await client.shutdown()
        await engine.stop()
    }

    @Test("every call after the ping carries the negotiated version", arguments: [
        ("1.45", "/v1.45"), ("1.99", "/v1.52"), (nil, "/v1.24"),
    ] as [(String?, String)])
    func versionPrefix(server: String?, prefix: String) async throws {
        try await Self.withEngine(apiVersion: server) { engine, client in
            #expect(try await client.ping().apiVersion == String(prefix.dropFirst(2)))
            #expect(try await client.inspectImage("demo/app:1") == nil)
            _ = try await client.listImages()
            let requests = engine.requests
            #expect(requests.first == "GET /_ping")
            #expect(requests.dropFirst().allSatisfy { $0.hasPrefix("GET \(prefix)/") }, "\(requests)")
            #expect(requests.contains("GET \(prefix)/images/demo/app:1/json"))
        }
    }

    @Test("tag splits the reference and the engine gets repo and tag")
    func tag() async throws {
        try await Self.withEngine(apiVersion: "1.41") { engine, client in
            engine.add(.init(id: "sha256:" + String(repeating: "1", count: 64), repoTags: [], layers: []))
            try await client.tag("sha256:" + String(repeating: "1", count: 64), as: "127.0.0.1:5000/demo/app:7")
            #expect(engine.requests.last?.hasSuffix("/tag?repo=127.0.0.1%3A5000%2Fdemo%2Fapp&tag=7") == true, "\(engine.requests)")
            #expect(try await client.inspectImage("127.0.0.1:5000/demo/app:7") != nil)
            let missing = await #expect(throws: FerryError.self) { try await client.tag("nope", as: "a:1") }
            #expect(missing?.code == .notFound)
        }
    }

    @Test("load sends an exact-length application/x-tar body to /images/load?quiet=1", arguments: ["1.41", "1.47"])
    func loadRequest(version: String) async throws {
        try await Self.withEngine(apiVersion: version) { engine, client in
            let synthetic = SyntheticImage(layerSizes: [10_000, 70_001], seed: 7)
            let archive = try DockerArchive(image: synthetic.image, reader: synthetic.reader)
            engine.script(.ok(#"{"stream":"Loaded image: demo/synthetic:1\n"}"#, adds: nil))
            #expect(try await client.load(archive) == ["demo/synthetic:1"])
            let load = try #require(engine.loads.first)
            #expect(load.path == "/v\(version)/images/load?quiet=1")
            #expect(load.contentType == "application/x-tar")
            #expect(load.contentLength == "\(archive.contentLength)")
            #expect(Int64(load.bytes) == archive.contentLength)
            let listing = try await runChecked("/usr/bin/tar", ["-tf", load.file])
            #expect(listing.split(separator: "\n").first == "manifest.json")
        }
    }

    @Test("a failed load carries the engine's message", arguments: [
        (FakeEngine.LoadReply.ok(#"{"errorDetail":{"message":"invalid diffID for layer 1"},"error":"invalid diffID for layer 1"}"#, adds: nil),
         "docker load failed: invalid diffID for layer 1"),
        // dockerd ends every message with \r\n.
        (.ok(#"{"stream":"Loaded image: a:1\n"}"# + "\r\n" + #"{"error":"late failure"}"# + "\r\n", adds: nil), "docker load failed: late failure"),
        (.ok(#"{"status":"Loading layer"}"#, adds: nil), "docker load failed: the engine reported no 'Loaded image' line"),
        (.ok("<html>proxy error</html>", adds: nil), "docker load failed: the engine's answer could not be read"),
        (.status(400, #"{"message":"client version 1.52 is too new"}"#), "docker load failed: client version 1.52 is too new"),
        (.status(500, "oops"), "docker load failed: HTTP 500: oops"),
    ])
    func loadFailures(reply: FakeEngine.LoadReply, message: String) async throws {
        try await Self.withEngine(apiVersion: "1.41") { engine, client in
            let synthetic = SyntheticImage(layerSizes: [1000], seed: 8)
            engine.script(reply)
            let error = await #expect(throws: FerryError.self) {
                _ = try await client.load(try DockerArchive(image: synthetic.image, reader: synthetic.reader))
            }
            #expect(error?.code == .dockerLoadFailed)
            #expect(error?.message.hasPrefix(message) == true, "\(error?.message ?? "")")
        }
    }

    @Test("a store that fails mid-load surfaces its own error, not a transport one")
    func readerFailure() async throws {
        try await Self.withEngine(apiVersion: "1.41") { engine, client in
            let synthetic = SyntheticImage(layerSizes: [300_000], seed: 9)
            let failing: DockerArchive.BlobReader = { digest, body in
                try await body(ByteBuffer(bytes: [UInt8](repeating: 1, count: 1000)))
                throw FerryError(.storeCorrupt, "blob \(digest) is damaged in the store")
            }
            engine.script(.ok(#"{"stream":"Loaded image: demo/synthetic:1\n"}"#, adds: nil))
            let error = await #expect(throws: FerryError.self) {
                _ = try await client.load(try DockerArchive(image: synthetic.image, reader: failing))
            }
            #expect(error?.code == .storeCorrupt, "\(String(describing: error))")
        }
    }

    @Test("when the load without held layers fails, the full archive is sent")
    func fallback() async throws {
        try await Self.withEngine(apiVersion: "1.41") { engine, client in
            let synthetic = SyntheticImage(layerSizes: [2000, 3000, 4000], seed: 10)
            let image = synthetic.image
            let layers = try image.decodedConfig().rootfs.diffIDs
            // Another image in the engine starts with the first two layers.
            engine.add(.init(id: "sha256:" + String(repeating: "2", count: 64), repoTags: ["other:1"], layers: Array(layers.prefix(2)) + [layers[0]]))
            let loaded = FakeEngine.Image(id: image.imageID.description, repoTags: ["demo/synthetic:1"], layers: layers)
            engine.script(
                .ok(#"{"errorDetail":{"message":"layer does not exist"},"error":"layer does not exist"}"#, adds: nil),
                .ok(#"{"stream":"Loaded image: demo/synthetic:1\n"}"#, adds: loaded))

            #expect(try await client.install(image, reader: synthetic.reader) == .loaded(omittedLayers: 0, fallback: true))
            let loads = engine.loads
            #expect(loads.count == 2)
            let first = try await runChecked("/usr/bin/tar", ["-tf", loads[0].file])
            let second = try await runChecked("/usr/bin/tar", ["-tf", loads[1].file])
            let layerDigests = image.manifest.layers.map(\.digest)
            #expect(!first.contains(layerDigests[0].encoded) && !first.contains(layerDigests[1].encoded) && first.contains(layerDigests[2].encoded))
            #expect(layerDigests.allSatisfy { second.contains($0.encoded) })
        }
    }

    @Test("an image the engine already has is only tagged; one that does not show up after a load is a failure")
    func presentAndMissingAfterLoad() async throws {
        try await Self.withEngine(apiVersion: "1.41") { engine, client in
            let synthetic = SyntheticImage(layerSizes: [100], seed: 11)
            let image = synthetic.image
            engine.add(.init(id: image.imageID.description, repoTags: [], layers: try image.decodedConfig().rootfs.diffIDs))
            #expect(try await client.install(image, reader: synthetic.reader) == .alreadyPresent)
            #expect(engine.loads.isEmpty)
            #expect(engine.requests.contains { $0.contains("/tag?repo=demo%2Fsynthetic&tag=1") })

            let other = SyntheticImage(layerSizes: [100], seed: 12)
            engine.script(.ok(#"{"stream":"Loaded image: demo/synthetic:1\n"}"#, adds: nil))
            let error = await #expect(throws: FerryError.self) { _ = try await client.install(other.image, reader: other.reader) }
            #expect(error?.code == .dockerLoadFailed)
            #expect(error?.message.contains("reported success but has no image") == true)
        }
    }

    @Test("engines from 25 get an OCI layout; from 23 zstd layers go as they are")
    func newerEngines() async throws {
        try await Self.withEngine(apiVersion: "1.44", serverVersion: "25.0.3") { engine, client in
            let synthetic = SyntheticImage(layerSizes: [1000], seed: 13, mediaType: MediaType.ociLayerZstd)
            let image = synthetic.image
            let loaded = FakeEngine.Image(id: image.imageID.description, repoTags: ["demo/synthetic:1"], layers: [])
            engine.script(.ok(#"{"stream":"Loaded image: demo/synthetic:1\n"}"#, adds: loaded))
            #expect(try await client.install(image, reader: synthetic.reader) == .loaded(omittedLayers: 0, fallback: false))
            let listing = try await runChecked("/usr/bin/tar", ["-tf", try #require(engine.loads.first).file])
            #expect(listing.contains("oci-layout") && listing.contains("index.json"))
            #expect(listing.contains(image.manifest.layers[0].digest.encoded))  // not decompressed
        }
    }
}
