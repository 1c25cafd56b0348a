import FerryCore
import Foundation
import NIOCore
import NIOFileSystem

#if canImport(Glibc)
import Glibc
#endif

/// A scratch file for the pieces of a blob downloaded ahead of where its ingest is
/// (`spool/<hex>` under the store's root, 0600): written at any offset, read back in order into
/// the ingest, which alone hashes and commits. Removed by ``close()``; a crash leaves it for the
/// next start of the store to remove (the ingest's partial file is what resumes).
public final class BlobSpool: Sendable {
    public let path: String
    private let handle: ReadWriteFileHandle

    private init(path: String, handle: ReadWriteFileHandle) {
        self.path = path
        self.handle = handle
    }

    /// Creates an empty spool for `digest` (an earlier one is replaced).
    public static func create(in store: BlobStore, for digest: Digest) async throws -> BlobSpool {
        let path = "\(store.spoolDirectory)/\(digest.algorithm.rawValue)-\(digest.encoded)"
        unlink(path)
        let handle = try await FileSystem.shared.openFile(
            forReadingAndWritingAt: FilePath(path), options: .newFile(replaceExisting: true, permissions: .ownerReadWrite))
        return BlobSpool(path: path, handle: handle)
    }

    /// Writes `chunk` at `offset` bytes from the spool's start.
    public func write(_ chunk: ByteBuffer, at offset: Int64) async throws {
        try await handle.write(contentsOf: chunk.readableBytesView, toAbsoluteOffset: offset)
    }

    /// Up to `length` bytes from `offset` (fewer only at the end of what was written).
    public func read(from offset: Int64, length: Int64) async throws -> ByteBuffer {
        try await handle.readChunk(fromAbsoluteOffset: offset, length: .bytes(length))
    }

    /// Closes and removes the file.
    public func close() async {
        await BlobIngest.closeEvenIfCancelled(handle)
        unlink(path)
    }
}

extension BlobStore {
    /// Where ``BlobSpool``s live: emptied when the store opens.
    public var spoolDirectory: String { "\(root)/spool" }

    /// Removes spools a crash left behind and makes the directory (0700).
    func resetSpoolDirectory() throws(FerryError) {
        try? FileManager.default.removeItem(atPath: spoolDirectory)
        do {
            try FileManager.default.createDirectory(atPath: spoolDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw FerryError(.configuration, "cannot create store directory '\(spoolDirectory)': \(error.localizedDescription)")
        }
        chmod(spoolDirectory, 0o700)
    }
}
