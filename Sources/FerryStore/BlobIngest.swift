import FerryCore
import Logging
import NIOCore
import NIOFileSystem

#if canImport(Glibc)
import Glibc
#endif

/// A blob being written into a ``BlobStore``: bytes are hashed as they arrive and appended to
/// `ingest/<algorithm>/<hex>.partial`; ``commit()`` verifies and moves them into place.
///
/// An ingest that is closed without a commit keeps its partial file, and the next
/// ``BlobStore/ingest(_:expectedSize:)`` of the same digest resumes from it.
public actor BlobIngest {
    public nonisolated let digest: Digest
    public nonisolated let expectedSize: Int64
    private let store: BlobStore
    private let path: String
    private var handle: WriteFileHandle?
    private var digester: Digester
    private var written: Int64
    private var pending = ByteBuffer()
    /// When buffered bytes were last written out (what cut-through readers see).
    private var lastFlush = ContinuousClock.now
    private var closed = false
    /// Size and digest checked (``verify()``): nothing more may be written.
    private var verified = false
    private let progress: IngestProgress

    private init(
        store: BlobStore, digest: Digest, expectedSize: Int64, path: String, handle: WriteFileHandle, digester: Digester, written: Int64,
        progress: IngestProgress
    ) {
        self.progress = progress
        self.store = store
        self.digest = digest
        self.expectedSize = expectedSize
        self.path = path
        self.handle = handle
        self.digester = digester
        self.written = written
    }

    static func open(store: BlobStore, digest: Digest, expectedSize: Int64, progress: IngestProgress) async throws -> BlobIngest {
        let path = store.ingestPath(for: digest)
        // Rebuild the hash state of what an earlier run left behind.
        var digester = Digester(digest.algorithm)
        var kept: Int64 = 0
        if let info = try await FileSystem.shared.info(forFileAt: FilePath(path)), info.size > 0 {
            if info.size <= expectedSize {
                try await FileSystem.shared.withFileHandle(forReadingAt: FilePath(path)) { reader in
                    for try await chunk in reader.readChunks(chunkLength: .mebibytes(1)) {
                        chunk.withUnsafeReadableBytes { digester.update($0) }
                    }
                }
                kept = digester.count
            }
        }
        let handle = try await FileSystem.shared.openFile(
            forWritingAt: FilePath(path), options: .modifyFile(createIfNecessary: true, permissions: .ownerReadWrite))
        do {
            if kept == 0 {
                digester = Digester(digest.algorithm)
                try await handle.resize(to: .bytes(0))
            } else {
                try await handle.resize(to: .bytes(kept))
            }
        } catch {
            await closeEvenIfCancelled(handle)
            throw error
        }
        progress.wrote(upTo: kept)
        return BlobIngest(
            store: store, digest: digest, expectedSize: expectedSize, path: path, handle: handle, digester: digester, written: kept,
            progress: progress)
    }

    /// Bytes held so far (on disk or buffered): where a download resumes.
    public func offset() -> Int64 { written + Int64(pending.readableBytes) }

    /// Appends bytes. Refuses to grow past the expected size.
    public func write(_ chunk: ByteBuffer) async throws {
        guard !closed else { throw FerryError(.internal, "write to a closed ingest of \(digest)") }
        guard offset() + Int64(chunk.readableBytes) <= expectedSize else {
            throw FerryError(.sizeMismatch, "blob \(digest) would grow past its expected \(expectedSize) bytes")
        }
        chunk.withUnsafeReadableBytes { digester.update($0) }
        var chunk = chunk
        pending.writeBuffer(&chunk)
        // Written out at the buffer's size, or at the first write after the flush interval on a
        // slow feed: readers of the growing blob (peers by cut-through) must not wait so long they
        // take it for stalled. Only a write (or the verification) flushes: a flush of its own
        // while a write's flush is in flight would write at the same offset (the actor is
        // reentrant across the file write; a timer did that, and `make test` caught it).
        if pending.readableBytes >= store.configuration.writeBufferSize || .now - lastFlush >= store.configuration.flushInterval {
            try await flush()
        }
    }

    private func flush() async throws {
        lastFlush = .now
        guard pending.readableBytes > 0, let handle else { return }
        let buffer = pending
        pending = ByteBuffer()
        do {
            try await handle.write(contentsOf: buffer, toAbsoluteOffset: written)
        } catch let error as FileSystemError {
            if let cause = error.cause as? FileSystemError.SystemCallError, cause.errno == .noSpace || cause.errno == .diskQuotaExceeded {
                throw FerryError(.insufficientSpace, "no space left in \(store.root) while writing blob \(digest); free some space and retry")
            }
            throw FerryError(.internal, "cannot write blob \(digest) in \(store.root): \(error.message)")
        }
        written += Int64(buffer.readableBytes)
        progress.wrote(upTo: written)
    }

    /// Discards everything written so far.
    public func reset() async throws {
        guard let handle else { return }
        guard !verified else { throw FerryError(.internal, "reset of a verified ingest of \(digest)") }
        pending = ByteBuffer()
        try await handle.resize(to: .bytes(0))
        written = 0
        digester = Digester(digest.algorithm)
        progress.restarted()
    }

    /// Verifies size and digest of what was written (flushed to the partial file first). On a
    /// mismatch the partial is discarded (so the next attempt starts clean) and the error says
    /// which. Once verified, cut-through readers that hold the last byte back until verification
    /// may send it: the bytes are the blob's, though not yet durable; the blob is in the store (and
    /// survives a crash) only after ``commit()``. Optional: ``commit()`` verifies if this was not called.
    public func verify() async throws {
        guard !closed, handle != nil else { throw FerryError(.internal, "verify of a closed ingest of \(digest)") }
        guard !verified else { return }
        try await flush()
        let size = written
        let actual = digester.finalize()
        guard size == expectedSize, actual == digest else {
            await close(discard: true)
            if size != expectedSize {
                throw FerryError(.sizeMismatch, "blob \(digest) has \(size) bytes, expected \(expectedSize); discarded")
            }
            throw FerryError(.digestMismatch, "blob \(digest) does not match its digest (got \(actual)); discarded")
        }
        verified = true
        progress.verified()
    }

    /// Verifies size and digest (``verify()``), fsyncs, and moves the blob into `blobs/`. On a
    /// mismatch the partial is discarded (so the next attempt starts clean) and the error says which.
    public func commit() async throws {
        guard !closed, handle != nil else { throw FerryError(.internal, "commit of a closed ingest of \(digest)") }
        try await verify()
        guard let handle else { throw FerryError(.internal, "commit of a closed ingest of \(digest)") }
        try await handle.synchronize()
        try await handle.close()
        self.handle = nil
        let target = store.path(for: digest)
        guard rename(path, target) == 0 else {
            let reason = String(cString: strerror(errno))
            await close(discard: true)
            throw FerryError(.internal, "cannot move blob \(digest) into the store: \(reason)")
        }
        BlobStore.syncDirectory("\(store.root)/blobs/\(digest.algorithm.rawValue)")
        closed = true
        progress.finished(.committed)
        store.release(digest)
    }

    /// Closes `handle` even when the calling task is cancelled: NIOFileSystem starts no work,
    /// not even a close, in a cancelled task, and a handle that is never closed leaks its descriptor.
    static func closeEvenIfCancelled(_ handle: some FileHandleProtocol & Sendable) async {
        await Task { try? await handle.close() }.value
    }

    /// Closes without committing. The partial file stays (to resume) unless `discard` is set.
    public func close(discard: Bool = false) async {
        guard !closed else { return }
        closed = true
        if !discard { try? await flush() }
        if let handle { await Self.closeEvenIfCancelled(handle) }
        handle = nil
        if discard { unlink(path) }
        progress.finished(.closed)
        store.release(digest)
    }
}
