import FerryConcurrency
import FerryCore
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

extension BlobStore: CollectableStore {
    /// Why ``remove(_:)`` left a blob in place.
    public typealias Use = BlobUse
    /// What ``remove(_:)`` did.
    public typealias Removal = BlobRemoval

    /// Applies `change` to the store's usage state under its one lock.
    func withUsage<T: Sendable>(_ change: (inout BlobUsage) -> T) -> T {
        usage.withLock { change(&$0) }
    }

    // MARK: Readers

    /// Counts a reader of `digest` until ``endReading(_:)``; ``beginRemoval(_:)`` refuses it meanwhile.
    func beginReading(_ digest: Digest) {
        withUsage { $0.startReading(digest) }
    }

    /// Ends a read begun with ``beginReading(_:)`` and records the use (the file's atime), which
    /// is what least-recently-used collection orders by.
    func endReading(_ digest: Digest) {
        withUsage { $0.endReading(digest) }
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
        withUsage { $0.leases[name, default: []].formUnion(digests) }
    }

    /// Ends the lease `name`; what it held may be collected from now on.
    public func releaseLease(_ name: String) {
        _ = withUsage { $0.leases.removeValue(forKey: name) }
    }

    /// Runs `body` holding the lease `name` on `digests` (more may be added with
    /// ``lease(_:adding:)`` meanwhile); releases it afterwards.
    public func withLease<T>(_ name: String, on digests: some Sequence<Digest> = [], _ body: () async throws -> T) async rethrows -> T {
        lease(name, adding: digests)
        defer { releaseLease(name) }
        return try await body()
    }

    /// The names of the leases held now, with their digests.
    public var leases: [String: Set<Digest>] { withUsage { $0.leases } }

    // MARK: Collection

    /// Every digest in use at this moment (written, read or leased), with how. A snapshot: by the
    /// time it is acted on it may be out of date, which is why ``beginRemoval(_:)`` checks again.
    public func digestsInUse() -> [Digest: Use] {
        withUsage { $0.inUse }
    }

    /// Whether `digest` is in use now, and how.
    public func use(of digest: Digest) -> Use? {
        withUsage { $0.use(of: digest) }
    }

    /// Claims `digest` for removal unless it is being written, read or leased at this moment; the
    /// check and the claim happen under the store's one lock, so no ingest, read or lease can
    /// start in between. Until ``finishRemoval(_:)`` the blob counts as absent: ``size(of:)`` is
    /// nil, a read fails with `BLOB_UNKNOWN`, and a new ingest waits for the removal to end (then
    /// downloads it again). Nil when claimed; `.inUse`, or `.absent` if another removal holds it.
    public func beginRemoval(_ digest: Digest) -> Removal? {
        switch withUsage({ $0.claimRemoval(digest) }) {
        case .claimed: nil
        case .inUse(let use): .inUse(use)
        case .alreadyRemoving: .absent
        }
    }

    /// Unlinks the committed file and any partial of a blob claimed with ``beginRemoval(_:)``, then
    /// ends the claim. No lock is held while unlinking: the claim keeps writers and readers away.
    /// A digest not claimed yet is claimed first (and refused if in use), as ``remove(_:)`` does.
    public func finishRemoval(_ digest: Digest) -> Removal {
        if !withUsage({ $0.removing.contains(digest) }), let refused = beginRemoval(digest) { return refused }
        defer { abandonRemoval(digest) }
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

    /// Ends a removal claim (after ``finishRemoval(_:)``, or without deleting) and wakes ingests
    /// waiting for it.
    public func abandonRemoval(_ digest: Digest) {
        withUsage { $0.endRemoval(digest) }
        removals.notify()
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
        spaceHandler.withLock { $0 = handler }
    }

    /// Called before a download of `bytes`: gives the garbage collector a chance to free space
    /// first. Returns at once when no collector is running.
    public func makeRoom(for bytes: Int64) async {
        guard bytes > 0, let handler = spaceHandler.withLock({ $0 }) else { return }
        await handler(bytes)
    }

    /// Before a download of `bytes`: lets the garbage collector free space first
    /// (``makeRoom(for:)``), then refuses with a clear error if the disk still lacks room
    /// (``ensureSpace(for:what:)``). What every download calls.
    /// `digest`: the blob being downloaded, whose own ingest is not counted among the others.
    public func prepareDownload(of bytes: Int64, what: String, digest: Digest? = nil) async throws(FerryError) {
        // The collector is asked for what the check then demands, other downloads' room included.
        let pending = withUsage { $0.reserved(excluding: digest) }
        let (incoming, overflow) = bytes.addingReportingOverflow(pending)
        await makeRoom(for: overflow ? .max : incoming)
        try ensureSpace(for: bytes, what: what, excluding: digest)
    }
}
