import FerryCore
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Who is using which blobs of a ``BlobStore`` right now: open readers (counted per digest) and
/// named leases. Together with the store's active ingests (writers), this is what
/// ``BlobStore/remove(_:)`` refuses to delete.
///
/// Like containerd's leases, a lease is held by whoever is about to use blobs (an install target
/// on a follower) and names the digests it needs; it costs nothing on disk and is gone when the
/// process ends.
final class BlobUsage: Sendable {
    struct State {
        /// Open reads per digest.
        var readers: [Digest: Int] = [:]
        /// Lease name → the digests it protects.
        var leases: [String: Set<Digest>] = [:]
        /// Called before a download that may need room (see ``BlobStore/makeRoom(for:)``).
        var spaceHandler: (@Sendable (Int64) async -> Void)?
    }

    let state = Mutex(State())
}

extension BlobStore: CollectableStore {
    /// Why ``remove(_:)`` left a blob in place.
    public typealias Use = BlobUse
    /// What ``remove(_:)`` did.
    public typealias Removal = BlobRemoval

    // MARK: Readers

    /// Counts a reader of `digest` until ``endReading(_:)``; ``remove(_:)`` refuses it meanwhile.
    func beginReading(_ digest: Digest) {
        usage.state.withLock { $0.readers[digest, default: 0] += 1 }
    }

    /// Ends a read begun with ``beginReading(_:)`` and records the use (the file's atime), which
    /// is what least-recently-used collection orders by.
    func endReading(_ digest: Digest) {
        usage.state.withLock { state in
            let left = state.readers[digest, default: 1] - 1
            state.readers[digest] = left > 0 ? left : nil
        }
        var times = [timespec(tv_sec: 0, tv_nsec: Self.utimeNow), timespec(tv_sec: 0, tv_nsec: Self.utimeOmit)]
        _ = utimensat(AT_FDCWD, path(for: digest), &times, 0)
    }

    // `UTIME_NOW` and `UTIME_OMIT` from <sys/stat.h>, which Swift does not import.
    private static let utimeNow = (1 << 30) - 1
    private static let utimeOmit = (1 << 30) - 2

    // MARK: Leases

    /// Adds `digests` to the lease `name`, creating it if needed. Leased blobs are never removed
    /// by garbage collection; a blob not in the store yet may be leased before it is fetched.
    public func lease(_ name: String, adding digests: some Sequence<Digest>) {
        usage.state.withLock { $0.leases[name, default: []].formUnion(digests) }
    }

    /// Ends the lease `name`; what it held may be collected from now on.
    public func releaseLease(_ name: String) {
        _ = usage.state.withLock { $0.leases.removeValue(forKey: name) }
    }

    /// Runs `body` holding the lease `name` on `digests` (more may be added with
    /// ``lease(_:adding:)`` meanwhile); releases it afterwards.
    public func withLease<T>(_ name: String, on digests: some Sequence<Digest> = [], _ body: () async throws -> T) async rethrows -> T {
        lease(name, adding: digests)
        defer { releaseLease(name) }
        return try await body()
    }

    /// The names of the leases held now, with their digests.
    public var leases: [String: Set<Digest>] { usage.state.withLock { $0.leases } }

    // MARK: Collection

    /// Every digest in use at this moment (written, read or leased), with how. A snapshot: by the
    /// time it is acted on it may be out of date, which is why ``remove(_:)`` checks again.
    public func digestsInUse() -> [Digest: Use] {
        let writing = active.withLock { Array($0.keys) }
        var uses: [Digest: Use] = [:]
        usage.state.withLock { state in
            for (name, digests) in state.leases.sorted(by: { $0.key > $1.key }) {
                for digest in digests { uses[digest] = .leased(name) }
            }
            for digest in state.readers.keys { uses[digest] = .reading }
        }
        for digest in writing { uses[digest] = .writing }
        return uses
    }

    /// Whether `digest` is in use now, and how.
    public func use(of digest: Digest) -> Use? {
        if active.withLock({ $0[digest] != nil }) { return .writing }
        return usage.state.withLock { state in Self.use(of: digest, in: state) }
    }

    private static func use(of digest: Digest, in state: BlobUsage.State) -> Use? {
        if state.readers[digest, default: 0] > 0 { return .reading }
        if let name = state.leases.first(where: { $0.value.contains(digest) })?.key { return .leased(name) }
        return nil
    }

    /// Deletes a committed blob and any partial download of it, unless it is in use at this
    /// moment: the check and the unlinks happen under the store's locks, so no ingest, read or
    /// lease of the digest can start in between. A read that starts afterwards finds the blob
    /// absent (`BLOB_UNKNOWN`); an ingest that starts afterwards downloads it again.
    public func remove(_ digest: Digest) -> Removal {
        active.withLock { writers -> Removal in
            if writers[digest] != nil { return .inUse(.writing) }
            return usage.state.withLock { state -> Removal in
                if let use = Self.use(of: digest, in: state) { return .inUse(use) }
                var freed: Int64 = 0
                var found = false
                for file in [path(for: digest), ingestPath(for: digest)] {
                    var info = stat()
                    guard lstat(file, &info) == 0 else { continue }
                    guard unlink(file) == 0 else { continue }
                    found = true
                    freed += Int64(info.st_size)
                }
                return found ? .removed(bytes: freed) : .absent
            }
        }
    }

    /// Committed blobs and partial downloads on disk, one entry per digest.
    public func storedBlobs() -> [StoredBlob] {
        var found: [Digest: StoredBlob] = [:]
        for committed in [true, false] {
            for (digest, path) in files(committed: committed) {
                var info = stat()
                guard lstat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { continue }
                let used = Date(timeIntervalSince1970: TimeInterval(max(info.st_atim.tv_sec, info.st_mtim.tv_sec)))
                var entry = found[digest] ?? StoredBlob(digest: digest, bytes: 0, committed: false, lastUsed: .distantPast)
                entry.bytes += Int64(info.st_size)
                entry.committed = entry.committed || committed
                entry.lastUsed = max(entry.lastUsed, used)
                found[digest] = entry
            }
        }
        return found.values.sorted { $0.digest < $1.digest }
    }

    // MARK: Room for downloads

    /// Sets (or, with nil, clears) what ``makeRoom(for:)`` calls: the node's garbage collector,
    /// which collects when a download would take the disk past its high watermark.
    public func setSpaceHandler(_ handler: (@Sendable (Int64) async -> Void)?) {
        usage.state.withLock { $0.spaceHandler = handler }
    }

    /// Called before a download of `bytes`: gives the garbage collector a chance to free space
    /// first. Returns at once when no collector is running.
    public func makeRoom(for bytes: Int64) async {
        guard bytes > 0, let handler = usage.state.withLock({ $0.spaceHandler }) else { return }
        await handler(bytes)
    }

    /// Before a download of `bytes`: lets the garbage collector free space first
    /// (``makeRoom(for:)``), then refuses with a clear error if the disk still lacks room
    /// (``ensureSpace(for:what:)``). What every download calls.
    public func prepareDownload(of bytes: Int64, what: String) async throws(FerryError) {
        await makeRoom(for: bytes)
        try ensureSpace(for: bytes, what: what)
    }
}
