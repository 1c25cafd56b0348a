import FerryConcurrency
import FerryCore
import Foundation
import Logging
import NIOCore
import NIOFileSystem
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A content-addressed blob store on the local file system.
///
/// Layout under `root`:
/// ```
/// blobs/sha256/<hex>        committed, verified content (read-only once there)
/// ingest/sha256/<hex>.partial  downloads in progress, resumable after a restart
/// spool/sha256-<hex>        pieces downloaded ahead of their ingest (``BlobSpool``), removed at start
/// ```
/// A blob reaches `blobs/` only through ``BlobIngest/commit()``: size and digest checked,
/// data fsynced, then renamed atomically and the directory fsynced. Directories are 0700 and
/// files 0600: only the user running the node reads its blobs. Digests are validated
/// values (``Digest``), so a path is never built from unchecked input.
public final class BlobStore: Sendable {
    public let root: String
    public let configuration: BlobStoreConfiguration
    /// Writers, readers, leases and removals under way, under one lock (`BlobUsage.swift`).
    let usage = Mutex(BlobUsage())
    /// Notified when a removal ends: what an ingest of a digest being removed waits for.
    let removals = ChangeSignal()
    /// Notified when an ingest starts: a blob becomes ``Availability/growing(_:)`` (what the
    /// leader's sources answer waits for when it is about to fetch a blob nobody holds yet), and
    /// when expected arrivals end (what ``awaitArrival(of:)`` waits for).
    public let ingestsStarted = ChangeSignal()
    /// Called before a download that may need room (see ``makeRoom(for:)``).
    let spaceHandler = Mutex<(@Sendable (Int64) async -> Void)?>(nil)

    /// Opens (creating if needed) a store at `root`.
    public init(root: String, configuration: BlobStoreConfiguration = .init()) throws(FerryError) {
        self.root = root
        self.configuration = configuration
        for algorithm in Digest.Algorithm.allCases {
            for directory in ["blobs", "ingest"] {
                let path = "\(root)/\(directory)/\(algorithm.rawValue)"
                do {
                    // Private to the user running the node, whatever its umask (its files are 0600).
                    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
                    for created in [root, "\(root)/\(directory)", path] { chmod(created, 0o700) }
                } catch {
                    throw FerryError(.configuration, "cannot create store directory '\(path)': \(error.localizedDescription)")
                }
            }
        }
        try resetSpoolDirectory()
    }

    /// The path of a committed blob (which may not exist).
    public func path(for digest: Digest) -> String {
        "\(root)/blobs/\(digest.algorithm.rawValue)/\(digest.encoded)"
    }

    func ingestPath(for digest: Digest) -> String {
        "\(root)/ingest/\(digest.algorithm.rawValue)/\(digest.encoded).partial"
    }

    /// The size of a committed blob, or nil if the store does not hold it (or is removing it).
    public func size(of digest: Digest) -> Int64? {
        guard withUsage({ $0.mayRead(digest) }) else { return nil }
        var info = stat()
        guard stat(path(for: digest), &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { return nil }
        return Int64(info.st_size)
    }

    public func contains(_ digest: Digest) -> Bool { size(of: digest) != nil }

    /// Bytes free for an unprivileged writer on the store's file system.
    public func freeSpace() -> Int64? {
        var info = statvfs()
        guard statvfs(root, &info) == 0 else { return nil }
        return Int64(info.f_bavail) * Int64(info.f_frsize)
    }

    /// Throws ``FerryError/Code/insufficientSpace`` unless `bytes` more fit while leaving the
    /// configured reserve free and room for what the downloads already granted room still have
    /// to write (not `digest`'s own). With `digest` (the blob of an open ingest), a check that
    /// passes reserves that room for it until its ingest ends, so that two downloads never count
    /// on the same free space, and one refused, or not checked yet, holds none.
    public func ensureSpace(for bytes: Int64, what: String, excluding digest: Digest? = nil) throws(FerryError) {
        guard bytes > 0, let free = freeSpace() else { return }
        let refusal: FerryError? = withUsage { usage in
            let pending = usage.reserved(excluding: digest)
            // Saturate: `bytes` may come from an untrusted descriptor and be near Int64.max.
            var needed = bytes
            for more in [max(configuration.reservedSpace, 0), pending] {
                let (sum, overflow) = needed.addingReportingOverflow(more)
                needed = overflow ? Int64.max : sum
            }
            guard free < needed else {
                if let digest, let writer = usage.writers[digest] {
                    usage.reservations[digest] = BlobUsage.Reservation(bytes: bytes, from: writer.snapshot.durable)
                }
                return nil
            }
            let others = pending > 0 ? ", other downloads under way \(ByteSize.format(pending))" : ""
            return FerryError(
                .insufficientSpace,
                "not enough disk space in \(root) for \(what): it needs \(ByteSize.format(bytes)) plus \(ByteSize.format(configuration.reservedSpace)) kept in reserve\(others), but only \(ByteSize.format(free)) is free; free some space or move the data directory"
            )
        }
        if let refusal { throw refusal }
    }

    /// What the downloads granted room still have to write (``ensureSpace(for:what:excluding:)``).
    public var reservedForDownloads: Int64 { withUsage { $0.reserved(excluding: nil) } }

    /// Opens an ingest for `digest`, resuming a partial download left by an earlier run.
    /// Only one ingest per digest may be open at a time; a second gets ``FerryError/Code/busy``.
    /// While a garbage collection is removing the digest, waits for the removal to end.
    ///
    /// The caller must ``BlobIngest/commit()`` or ``BlobIngest/close(discard:)`` it on every
    /// path; ``withIngest(_:expectedSize:isolation:_:)`` does the closing.
    public func ingest(_ digest: Digest, expectedSize: Int64) async throws -> BlobIngest {
        let progress = IngestProgress(digest: digest, expectedSize: expectedSize, durable: 0)
        while true {
            let generation = removals.generation
            let start = withUsage { $0.startWriting(progress) }
            if start == .allowed {
                ingestsStarted.notify()
                break
            }
            guard start == .removing else { throw FerryError(.busy, "blob \(digest) is already being written") }
            await removals.wait(after: generation, timeout: .seconds(1))
            try Task.checkCancellation()
        }
        do {
            return try await BlobIngest.open(store: self, digest: digest, expectedSize: expectedSize, progress: progress)
        } catch {
            progress.finished(.closed)
            release(digest)
            throw error
        }
    }

    func release(_ digest: Digest) {
        withUsage { $0.endWriting(digest) }
    }

    /// The progress of a blob being written now, if it is: what a cut-through reader follows.
    public func ingestProgress(_ digest: Digest) -> IngestProgress? {
        withUsage { $0.writers[digest] }
    }

    /// Writes a small blob held in memory (a config or manifest), verifying it first.
    public func write(_ bytes: [UInt8], as digest: Digest) async throws {
        if contains(digest) { return }
        try await withIngest(digest, expectedSize: Int64(bytes.count)) { ingest in
            try await ingest.reset()
            var buffer = ByteBuffer()
            buffer.writeBytes(bytes)
            try await ingest.write(buffer)
            try await ingest.commit()
        }
    }

    /// Streams a committed blob, or the byte range `range` of it, to `consume` in chunks.
    public func read(
        _ digest: Digest,
        range: Range<Int64>? = nil,
        _ consume: (ByteBuffer) async throws -> Void
    ) async throws {
        beginReading(digest)
        defer { endReading(digest) }
        guard let size = size(of: digest) else { throw FerryError(.blobUnknown, "blob \(digest) is not in the store") }
        let range = range ?? 0..<size
        guard range.lowerBound >= 0, range.upperBound <= size else {
            throw FerryError(.rangeNotSatisfiable, "range \(range) is outside blob \(digest) of \(size) bytes")
        }
        try await FileSystem.shared.withFileHandle(forReadingAt: FilePath(path(for: digest))) { handle in
            var read: Int64 = 0
            for try await chunk in handle.readChunks(in: range, chunkLength: .bytes(Int64(configuration.readChunkSize))) {
                read += Int64(chunk.readableBytes)
                try await consume(chunk)
            }
            // NIO's chunk stream can end quietly when the task is cancelled: a partial read must
            // never pass for the whole (a re-verification would take a sound copy for a bad one).
            guard read == Int64(range.count) else {
                try Task.checkCancellation()
                throw FerryError(.storeCorrupt, "blob \(digest) ended after \(read) of \(range.count) bytes: the file changed while it was read")
            }
        }
    }

    /// Reads a small committed blob whole (configs, manifests). Refuses blobs over `limit`.
    public func bytes(of digest: Digest, limit: Int = 16 * 1024 * 1024) async throws -> [UInt8] {
        guard let size = size(of: digest) else { throw FerryError(.blobUnknown, "blob \(digest) is not in the store") }
        guard size <= limit else { throw FerryError(.invalidArgument, "blob \(digest) is \(size) bytes, too large to read whole") }
        var out: [UInt8] = []
        out.reserveCapacity(Int(size))
        try await read(digest) { out.append(contentsOf: $0.readableBytesView) }
        return out
    }

    /// Re-hashes a committed blob; false when its bytes no longer match the digest.
    public func verify(_ digest: Digest) async throws -> Bool {
        var digester = Digester(digest.algorithm)
        try await read(digest) { chunk in
            chunk.withUnsafeReadableBytes { digester.update($0) }
        }
        return digester.finalize() == digest
    }

    /// Hashes any file with the store's hashing path (used by `ferry digest` and benchmarks).
    public static func digest(ofFileAt path: String, algorithm: Digest.Algorithm = .sha256, chunkSize: Int = 1024 * 1024) async throws -> Digest {
        var digester = Digester(algorithm)
        try await FileSystem.shared.withFileHandle(forReadingAt: FilePath(path)) { handle in
            for try await chunk in handle.readChunks(chunkLength: .bytes(Int64(chunkSize))) {
                chunk.withUnsafeReadableBytes { digester.update($0) }
            }
        }
        return digester.finalize()
    }

    /// Removes a committed blob (and any partial ingest of it). Refuses while it is being written.
    public func delete(_ digest: Digest) throws(FerryError) {
        let busy = withUsage { $0.writers[digest] != nil }
        guard !busy else { throw FerryError(.busy, "blob \(digest) is being written") }
        unlink(path(for: digest))
        unlink(ingestPath(for: digest))
    }

    /// Partial downloads on disk, with the bytes each holds: what a restart can resume.
    public func partialIngests() -> [(digest: Digest, bytes: Int64)] {
        files(committed: false).compactMap { digest, path in
            var info = stat()
            guard stat(path, &info) == 0 else { return nil }
            return (digest, Int64(info.st_size))
        }.sorted { $0.0 < $1.0 }
    }

    /// All committed blobs.
    public func allBlobs() -> [Digest] {
        files(committed: true).map(\.digest).sorted()
    }

    /// The files named for a digest under `blobs/` (committed) or `ingest/` (`.partial`
    /// downloads), with their paths; names that are not a valid digest are skipped.
    func files(committed: Bool) -> [(digest: Digest, path: String)] {
        Digest.Algorithm.allCases.flatMap { algorithm in
            let folder = "\(root)/\(committed ? "blobs" : "ingest")/\(algorithm.rawValue)"
            return ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).compactMap { name -> (digest: Digest, path: String)? in
                let encoded = committed ? Substring(name) : (name.hasSuffix(".partial") ? name.dropLast(8) : nil)
                guard let encoded, let digest = try? Digest(parsing: "\(algorithm.rawValue):\(encoded)") else { return nil }
                return (digest, "\(folder)/\(name)")
            }
        }
    }

    /// fsyncs a directory so that a rename into it survives a crash.
    static func syncDirectory(_ path: String) {
        let fd = open(path, O_RDONLY | O_DIRECTORY)
        guard fd >= 0 else { return }
        fsync(fd)
        close(fd)
    }
}
