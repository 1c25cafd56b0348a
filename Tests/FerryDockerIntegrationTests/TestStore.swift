import FerryCore
import FerryDocker
import FerryTestSupport
import Foundation
import NIOCore
import Synchronization

/// A directory of blobs (`blobs/sha256/<hex>`) standing in for a follower's content store,
/// filled from a real registry with curl.
final class TestStore: Sendable {
    let directory: String
    /// Every digest the reader was asked for, in order.
    let reads = Mutex<[Digest]>([])

    init(directory: String) throws {
        self.directory = directory
        try FileManager.default.createDirectory(atPath: "\(directory)/blobs/sha256", withIntermediateDirectories: true)
    }

    func path(_ digest: Digest) -> String { "\(directory)/blobs/\(digest.algorithm.rawValue)/\(digest.encoded)" }

    /// Fetches `repository:tag`'s manifest, config and layers from `registry`; the image's tag
    /// is `registry.host/repository:tag` unless `reference` says otherwise.
    func fetch(from registry: TestRegistry, _ repository: String, _ tag: String, reference: String?? = .none) async throws -> LoadableImage {
        let manifestPath = "\(directory)/manifest-\(UUID().uuidString.prefix(8))"
        try await runChecked("/usr/bin/curl", [
            "-fsS", "-o", manifestPath, "-H", "Accept: \(MediaType.ociManifest), \(MediaType.dockerManifest)",
            "\(registry.url)/v2/\(repository)/manifests/\(tag)",
        ])
        let manifestBytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: manifestPath)))
        guard case .image(let manifest, _) = try ParsedManifest.decode(manifestBytes, contentType: nil) else {
            throw FerryError(.manifestInvalid, "expected an image manifest")
        }
        for blob in manifest.blobs where !FileManager.default.fileExists(atPath: path(blob.digest)) {
            try await runChecked("/usr/bin/curl", ["-fsS", "-o", path(blob.digest), "\(registry.url)/v2/\(repository)/blobs/\(blob.digest)"])
        }
        let config = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path(manifest.config.digest))))
        let name: String? =
            switch reference {
            case .none: "\(registry.host)/\(repository):\(tag)"
            case .some(let given): given
            }
        return LoadableImage(
            reference: name, manifest: manifest, manifestBytes: manifestBytes, manifestDigest: Digest.sha256(of: manifestBytes), config: config)
    }

    /// Streams blobs from the directory in 256 KiB chunks, recording what was read.
    var reader: DockerArchive.BlobReader {
        let directory = directory
        return { [self] digest, body in
            reads.withLock { $0.append(digest) }
            let path = "\(directory)/blobs/\(digest.algorithm.rawValue)/\(digest.encoded)"
            guard let handle = FileHandle(forReadingAtPath: path) else {
                throw FerryError(.blobUnknown, "blob \(digest) is not in the test store")
            }
            defer { try? handle.close() }
            while let data = try handle.read(upToCount: 256 * 1024), !data.isEmpty {
                try await body(ByteBuffer(bytes: data))
            }
        }
    }

    /// The digests read so far, and forget them.
    func takeReads() -> [Digest] {
        reads.withLock { reads in
            defer { reads = [] }
            return reads
        }
    }

    /// Flips one byte in the middle of a blob.
    func corrupt(_ digest: Digest) throws {
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: path(digest)))
        defer { try? handle.close() }
        let size = try handle.seekToEnd()
        try handle.seek(toOffset: size / 2)
        let byte = try handle.read(upToCount: 1) ?? Data([0])
        try handle.seek(toOffset: size / 2)
        try handle.write(contentsOf: Data([byte[0] ^ 0xff]))
    }
}
