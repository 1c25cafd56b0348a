import FerryCore
import FerryStore
import Foundation
import NIOCore

/// Runs `body` with a blob store in a fresh temporary directory, removed afterwards.
@discardableResult
func withTemporaryStore<T>(
    _ configuration: BlobStoreConfiguration = .init(reservedSpace: 0, writeBufferSize: 16, readChunkSize: 7),
    _ body: (BlobStore) async throws -> T
) async throws -> T {
    let root = FileManager.default.temporaryDirectory.appendingPathComponent("ferry-store-\(UUID().uuidString)").path
    defer { try? FileManager.default.removeItem(atPath: root) }
    let store = try BlobStore(root: root, configuration: configuration)
    return try await body(store)
}

/// Deterministic test content of `count` bytes.
func content(_ count: Int, seed: UInt8 = 1) -> [UInt8] {
    (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 131 &+ Int(seed) &* 17) }
}

func buffer(_ bytes: some Sequence<UInt8>) -> ByteBuffer {
    var buffer = ByteBuffer()
    buffer.writeBytes(Array(bytes))
    return buffer
}

extension BlobStore {
    func ingestFiles() -> [String] {
        Digest.Algorithm.allCases.flatMap { algorithm in
            (try? FileManager.default.contentsOfDirectory(atPath: "\(root)/ingest/\(algorithm.rawValue)")) ?? []
        }
    }

    func committedFiles() -> [String] {
        (try? FileManager.default.contentsOfDirectory(atPath: "\(root)/blobs/sha256")) ?? []
    }

    func readAll(_ digest: Digest, range: Range<Int64>? = nil) async throws -> [UInt8] {
        var out: [UInt8] = []
        try await read(digest, range: range) { out.append(contentsOf: $0.readableBytesView) }
        return out
    }
}
