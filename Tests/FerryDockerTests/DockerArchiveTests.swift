import FerryCore
import FerryTestSupport
import Foundation
import NIOCore
import Testing

@testable import FerryDocker

@Suite("DockerArchive")
struct DockerArchiveTests {
    /// Writes the archive to a file, checks its length, extracts it with GNU tar.
    static func extract(_ archive: DockerArchive, into dir: TemporaryDirectory) async throws -> String {
        let bytes = try await SyntheticImage.collect(archive)
        #expect(Int64(bytes.count) == archive.contentLength)
        #expect(bytes.count % 512 == 0)
        #expect(bytes.suffix(1024).allSatisfy { $0 == 0 })
        let tar = dir.sub("archive.tar")
        #expect(FileManager.default.createFile(atPath: tar, contents: Data(bytes)))
        let out = dir.sub("out")
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let result = try await runProcess("/usr/bin/tar", ["-xf", tar, "-C", out])
        #expect(result.succeeded && result.stderr.isEmpty, "tar: \(result.stderr)")
        return out
    }

    static func read(_ path: String) throws -> [UInt8] {
        try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
    }

    struct ManifestEntry: Decodable, Equatable {
        var Config: String
        var RepoTags: [String]
        var Layers: [String]
    }

    @Test("manifest.json, config and layers extract with GNU tar, byte for byte, and the length is exact")
    func extractsWithGNUTar() async throws {
        let synthetic = SyntheticImage(layerSizes: [0, 1, 511, 512, 513, 100_000])
        let archive = try DockerArchive(image: synthetic.image, reader: synthetic.reader)
        try await withTemporaryDirectory("archive") { dir in
            let out = try await Self.extract(archive, into: dir)
            let manifest = try JSONDecoder().decode([ManifestEntry].self, from: Data(try Self.read("\(out)/manifest.json")))
            let image = synthetic.image
            #expect(manifest == [ManifestEntry(
                Config: "blobs/sha256/\(image.manifest.config.digest.encoded)", RepoTags: ["demo/synthetic:1"],
                Layers: image.manifest.layers.map { "blobs/sha256/\($0.digest.encoded)" })])
            #expect(try Self.read("\(out)/blobs/sha256/\(image.manifest.config.digest.encoded)") == image.config)
            for layer in image.manifest.layers {
                #expect(try Self.read("\(out)/blobs/sha256/\(layer.digest.encoded)") == synthetic.blobs[layer.digest])
            }
            #expect(!FileManager.default.fileExists(atPath: "\(out)/index.json"))
            #expect(archive.omittedLayers.isEmpty)
        }
    }

    @Test("omitted layers stay listed in manifest.json but are not in the tar")
    func omitsLayers() async throws {
        let synthetic = SyntheticImage(layerSizes: [1000, 2000, 3000], seed: 2)
        let layers = synthetic.image.manifest.layers.map(\.digest)
        let archive = try DockerArchive(
            image: synthetic.image, options: .init(omitting: [layers[0], layers[1]]), reader: synthetic.reader)
        #expect(archive.omittedLayers == [layers[0], layers[1]])
        #expect(archive.entries.filter { if case .blob = $0.content { true } else { false } }.map(\.path) == ["blobs/sha256/\(layers[2].encoded)"])
        try await withTemporaryDirectory("archive-omit") { dir in
            let out = try await Self.extract(archive, into: dir)
            let manifest = try JSONDecoder().decode([ManifestEntry].self, from: Data(try Self.read("\(out)/manifest.json")))
            #expect(manifest.first?.Layers == layers.map { "blobs/sha256/\($0.encoded)" })
            #expect(!FileManager.default.fileExists(atPath: "\(out)/blobs/sha256/\(layers[0].encoded)"))
            #expect(!FileManager.default.fileExists(atPath: "\(out)/blobs/sha256/\(layers[1].encoded)"))
            #expect(try Self.read("\(out)/blobs/sha256/\(layers[2].encoded)") == synthetic.blobs[layers[2]])
        }
    }

    @Test("a layer used twice is written once")
    func repeatedLayer() async throws {
        var synthetic = SyntheticImage(layerSizes: [700], seed: 3)
        var image = synthetic.image
        image.manifest.layers.append(image.manifest.layers[0])
        synthetic = SyntheticImage(copying: synthetic, image: image)
        let archive = try DockerArchive(image: image, reader: synthetic.reader)
        #expect(archive.entries.filter { if case .blob = $0.content { true } else { false } }.count == 1)
        try await withTemporaryDirectory("archive-repeat") { dir in
            let out = try await Self.extract(archive, into: dir)
            let manifest = try JSONDecoder().decode([ManifestEntry].self, from: Data(try Self.read("\(out)/manifest.json")))
            #expect(manifest.first?.Layers.count == 2)
        }
    }

    @Test("with an OCI layout: oci-layout, index.json naming the image, the manifest's exact bytes as a blob")
    func ociLayout() async throws {
        let synthetic = SyntheticImage(reference: "alpine:3", layerSizes: [4096], seed: 4)
        let archive = try DockerArchive(image: synthetic.image, options: .init(includeOCILayout: true), reader: synthetic.reader)
        try await withTemporaryDirectory("archive-oci") { dir in
            let out = try await Self.extract(archive, into: dir)
            #expect(String(decoding: try Self.read("\(out)/oci-layout"), as: UTF8.self) == #"{"imageLayoutVersion":"1.0.0"}"#)
            struct Index: Decodable {
                var schemaVersion: Int
                var manifests: [Descriptor]
            }
            let index = try JSONDecoder().decode(Index.self, from: Data(try Self.read("\(out)/index.json")))
            let image = synthetic.image
            #expect(index.schemaVersion == 2)
            #expect(index.manifests.map(\.digest) == [image.manifestDigest])
            #expect(index.manifests.first?.size == Int64(image.manifestBytes.count))
            #expect(index.manifests.first?.annotations?["io.containerd.image.name"] == "docker.io/library/alpine:3")
            #expect(index.manifests.first?.annotations?["org.opencontainers.image.ref.name"] == "3")
            #expect(try Self.read("\(out)/blobs/sha256/\(image.manifestDigest.encoded)") == image.manifestBytes)
            // manifest.json is there too, for the classic loader.
            #expect(FileManager.default.fileExists(atPath: "\(out)/manifest.json"))
        }
    }

    @Test("an untagged image has empty RepoTags; digest references and tagless names are refused")
    func references() async throws {
        let untagged = SyntheticImage(reference: nil, layerSizes: [10], seed: 5)
        let archive = try DockerArchive(image: untagged.image, reader: untagged.reader)
        guard case .bytes(let json) = archive.entries.first?.content else {
            Issue.record("manifest.json is not the first entry")
            return
        }
        #expect(String(decoding: json, as: UTF8.self).contains(#""RepoTags":[]"#))

        for bad in ["demo/app@sha256:" + String(repeating: "a", count: 64), "demo/app", "Demo/App:1", "127.0.0.1:5000/demo"] {
            let image = SyntheticImage(reference: bad, layerSizes: [10], seed: 5)
            let error = #expect(throws: FerryError.self) { try DockerArchive(image: image.image, reader: image.reader) }
            #expect(error?.code == .invalidArgument, "\(bad)")
        }
    }

    @Test("a blob shorter or longer than its descriptor stops the stream with a size mismatch")
    func sizeMismatch() async throws {
        let synthetic = SyntheticImage(layerSizes: [5000], seed: 6)
        for delta in [-1, 1] {
            var image = synthetic.image
            image.manifest.layers[0].size += Int64(delta)
            let archive = try DockerArchive(image: image, reader: synthetic.reader)
            let error = await #expect(throws: FerryError.self) { _ = try await SyntheticImage.collect(archive) }
            #expect(error?.code == .sizeMismatch)
        }
    }
}

extension SyntheticImage {
    /// The same blobs under a changed image.
    init(copying other: SyntheticImage, image: LoadableImage) {
        self.image = image
        self.blobs = other.blobs
    }
}
