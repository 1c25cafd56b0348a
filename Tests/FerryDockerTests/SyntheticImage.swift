import FerryCore
import FerryDocker
import Foundation
import NIOCore

/// An image made up in memory: layers of seeded pseudo-random bytes (not real tars: the
/// archive does not look inside them), a config naming their digests as diff IDs, and a
/// reader that serves them in odd-sized chunks.
struct SyntheticImage: Sendable {
    let image: LoadableImage
    let blobs: [Digest: [UInt8]]

    init(reference: String? = "demo/synthetic:1", layerSizes: [Int], seed: UInt64 = 1, mediaType: String = MediaType.ociLayer) {
        var generator = SplitMix(seed: seed)
        var blobs: [Digest: [UInt8]] = [:]
        var layers: [Descriptor] = []
        for size in layerSizes {
            let bytes = (0..<size).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
            let digest = Digest.sha256(of: bytes)
            blobs[digest] = bytes
            layers.append(Descriptor(mediaType: mediaType, digest: digest, size: Int64(size)))
        }
        let diffIDs = layers.map { "\"\($0.digest)\"" }.joined(separator: ",")
        let config = Array(#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[\#(diffIDs)]}}"#.utf8)
        let configDigest = Digest.sha256(of: config)
        let manifest = ImageManifest(
            mediaType: MediaType.ociManifest,
            config: Descriptor(mediaType: MediaType.ociConfig, digest: configDigest, size: Int64(config.count)), layers: layers)
        let layerJSON = layers.map { #"{"mediaType":"\#($0.mediaType)","digest":"\#($0.digest)","size":\#($0.size)}"# }
        let configJSON = #"{"mediaType":"\#(MediaType.ociConfig)","digest":"\#(configDigest)","size":\#(config.count)}"#
        let manifestBytes = Array(
            #"{"schemaVersion":2,"mediaType":"\#(MediaType.ociManifest)","config":\#(configJSON),"layers":[\#(layerJSON.joined(separator: ","))]}"#
                .utf8)
        self.blobs = blobs
        self.image = LoadableImage(
            reference: reference, manifest: manifest, manifestBytes: manifestBytes, manifestDigest: Digest.sha256(of: manifestBytes),
            config: config)
    }

    /// Serves blobs in 7001-byte chunks (not a multiple of 512, to exercise padding).
    var reader: DockerArchive.BlobReader {
        let blobs = blobs
        return { digest, body in
            guard let bytes = blobs[digest] else { throw FerryError(.blobUnknown, "no blob \(digest)") }
            var offset = 0
            while offset < bytes.count {
                let end = min(offset + 7001, bytes.count)
                try await body(ByteBuffer(bytes: bytes[offset..<end]))
                offset = end
            }
        }
    }

    /// The whole archive, written into memory (small images only).
    static func collect(_ archive: DockerArchive) async throws -> [UInt8] {
        var out: [UInt8] = []
        try await archive.write { buffer in out += buffer.readableBytesView }
        return out
    }
}

/// A tiny deterministic generator for test data.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
