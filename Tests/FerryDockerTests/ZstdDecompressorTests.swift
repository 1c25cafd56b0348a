import FerryCore
import FerryTestSupport
import Foundation
import NIOCore
import Testing

@testable import FerryDocker

@Suite("ZstdDecompressor", .enabled(if: ZstdDecompressor.find() != nil))
struct ZstdDecompressorTests {
    /// `count` pseudo-random bytes with some repetition, and their zstd compression by the CLI.
    static func sample(_ count: Int, in dir: TemporaryDirectory) async throws -> (plain: [UInt8], compressed: [UInt8]) {
        var generator = SplitMix(seed: UInt64(count))
        let plain = (0..<count).map { index in index % 3 == 0 ? UInt8(index % 7) : UInt8(truncatingIfNeeded: generator.next()) }
        #expect(FileManager.default.createFile(atPath: dir.sub("plain"), contents: Data(plain)))
        try await runChecked("/usr/bin/zstd", ["-q", "-f", dir.sub("plain"), "-o", dir.sub("plain.zst")])
        return (plain, try [UInt8](Data(contentsOf: URL(fileURLWithPath: dir.sub("plain.zst")))))
    }

    static func reader(_ bytes: [UInt8], failAfter: Int? = nil) -> DockerArchive.BlobReader {
        { _, body in
            var offset = 0
            while offset < bytes.count {
                if let failAfter, offset >= failAfter { throw FerryError(.storeCorrupt, "store read failed") }
                let end = min(offset + 65_536, bytes.count)
                try await body(ByteBuffer(bytes: bytes[offset..<end]))
                offset = end
            }
        }
    }

    @Test("a blob compressed with the zstd CLI streams back to its original bytes, size and sha256")
    func roundTrip() async throws {
        let zstd = try #require(ZstdDecompressor.find())
        try await withTemporaryDirectory("zstd") { dir in
            let (plain, compressed) = try await Self.sample(3 * 1024 * 1024 + 17, in: dir)
            let digest = Digest.sha256(of: compressed)
            var out: [UInt8] = []
            try await zstd.decompress(digest, reader: Self.reader(compressed)) { out += $0.readableBytesView }
            #expect(out == plain)
            let measured = try await zstd.measure(digest, reader: Self.reader(compressed))
            #expect(measured == DockerArchive.DecompressedLayer(size: Int64(plain.count), diffID: Digest.sha256(of: plain)))
        }
    }

    @Test("bytes that are not zstd fail with zstd's message; a failing reader's own error wins")
    func failures() async throws {
        let zstd = try #require(ZstdDecompressor.find())
        let garbage = [UInt8](repeating: 0x42, count: 100_000)
        let error = await #expect(throws: FerryError.self) {
            try await zstd.decompress(Digest.sha256(of: garbage), reader: Self.reader(garbage)) { _ in }
        }
        #expect(error?.code == .dockerLoadFailed)
        #expect(error?.message.contains("could not be decompressed with zstd") == true, "\(error?.message ?? "")")
        // zstd's stderr, not only its exit status.
        #expect(error?.message.contains("unsupported format") == true, "\(error?.message ?? "")")

        try await withTemporaryDirectory("zstd-fail") { dir in
            let (_, compressed) = try await Self.sample(2 * 1024 * 1024, in: dir)
            let failed = await #expect(throws: FerryError.self) {
                try await zstd.decompress(Digest.sha256(of: compressed), reader: Self.reader(compressed, failAfter: 200_000)) { _ in }
            }
            #expect(failed?.code == .storeCorrupt)
        }
    }

    @Test("a failing consumer's own error wins; cancelling the task ends the call (zstd killed)")
    func consumerFailureAndCancellation() async throws {
        struct SinkFailed: Error {}
        let zstd = try #require(ZstdDecompressor.find())
        try await withTemporaryDirectory("zstd-sink") { dir in
            let (_, compressed) = try await Self.sample(2 * 1024 * 1024, in: dir)
            let digest = Digest.sha256(of: compressed)
            await #expect(throws: SinkFailed.self) {
                try await zstd.decompress(digest, reader: Self.reader(compressed)) { _ in throw SinkFailed() }
            }
            // The consumer stalls: zstd blocks on its full stdout, the reader on zstd's stdin.
            let stalled = Task {
                try await zstd.decompress(digest, reader: Self.reader(compressed)) { _ in try await Task.sleep(for: .seconds(3600)) }
            }
            try await Task.sleep(for: .milliseconds(200))
            stalled.cancel()
            // run returns only once zstd has exited.
            await #expect(throws: CancellationError.self) { try await stalled.value }
        }
    }

    @Test("a program that cannot be started is UNSUPPORTED, naming it")
    func missingProgram() async throws {
        let missing = ZstdDecompressor(executable: "/nonexistent/zstd")
        let bytes = [UInt8](repeating: 1, count: 10)
        let error = await #expect(throws: FerryError.self) {
            try await missing.decompress(Digest.sha256(of: bytes), reader: Self.reader(bytes)) { _ in }
        }
        #expect(error?.code == .unsupported)
        #expect(error?.message.contains("cannot run /nonexistent/zstd") == true, "\(error?.message ?? "")")
    }

    @Test("an archive entry for a decompressed layer holds the plain bytes under the diff ID")
    func archiveEntry() async throws {
        let zstd = try #require(ZstdDecompressor.find())
        try await withTemporaryDirectory("zstd-archive") { dir in
            let (plain, compressed) = try await Self.sample(300_001, in: dir)
            let layer = Digest.sha256(of: compressed)
            let diffID = Digest.sha256(of: plain)
            let config = Array(#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["\#(diffID)"]}}"#.utf8)
            let manifest = ImageManifest(
                mediaType: MediaType.ociManifest,
                config: Descriptor(mediaType: MediaType.ociConfig, digest: Digest.sha256(of: config), size: Int64(config.count)),
                layers: [Descriptor(mediaType: MediaType.ociLayerZstd, digest: layer, size: Int64(compressed.count))])
            let image = LoadableImage(reference: "demo/z:1", manifest: manifest, manifestBytes: [], manifestDigest: diffID, config: config)
            let decompressed = try await zstd.measure(layer, reader: Self.reader(compressed))
            let archive = try DockerArchive(
                image: image, options: .init(decompressed: [layer: decompressed], zstd: zstd), reader: Self.reader(compressed))
            let out = try await DockerArchiveTests.extract(archive, into: dir)
            #expect(try DockerArchiveTests.read("\(out)/blobs/sha256/\(diffID.encoded)") == plain)
            #expect(!FileManager.default.fileExists(atPath: "\(out)/blobs/sha256/\(layer.encoded)"))
        }
    }
}
