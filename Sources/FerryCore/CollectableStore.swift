import Foundation

/// How a blob is in use at this moment, which keeps garbage collection from removing it.
public enum BlobUse: Sendable, Hashable, CustomStringConvertible {
    /// An ingest of the digest is open (a download, or a commit in progress).
    case writing
    /// A reader has it open (a `/v2/` response, a verification, a Docker load).
    case reading
    /// A lease of that name holds it (an install target running on this node).
    case leased(String)

    public var description: String {
        switch self {
        case .writing: "being written"
        case .reading: "being read"
        case .leased(let name): "leased by \(name)"
        }
    }
}

/// What removing one blob from a store did.
public enum BlobRemoval: Sendable, Hashable {
    /// The committed blob and any partial download of it are gone: `bytes` (their sizes) freed.
    case removed(bytes: Int64)
    /// Nothing was deleted: the blob is in use.
    case inUse(BlobUse)
    /// Neither a committed blob nor a partial download existed.
    case absent
}

/// A blob (committed or partial) as found on disk.
public struct StoredBlob: Sendable, Hashable {
    public var digest: Digest
    /// Bytes on disk: the size of the committed file plus that of any partial download (0 for a
    /// blob known only from the database).
    public var bytes: Int64
    /// Whether a committed, verified file exists.
    public var committed: Bool
    /// The last time it was written or read; least recently used blobs go first when only some
    /// must go.
    public var lastUsed: Date

    public init(digest: Digest, bytes: Int64, committed: Bool = true, lastUsed: Date) {
        self.digest = digest
        self.bytes = bytes
        self.committed = committed
        self.lastUsed = lastUsed
    }
}

/// A content store as garbage collection needs it: what is on disk, what is in use, and a removal
/// that checks use at the moment it claims the blob, in two steps so that the files can go after
/// the database has committed. `FerryStore.BlobStore` is one; tests use an
/// in-memory twin.
public protocol CollectableStore: Sendable {
    /// Committed blobs and partial downloads on disk, one entry per digest.
    func storedBlobs() -> [StoredBlob]
    /// Digests being written, read or leased at this moment, each with how.
    func digestsInUse() -> [Digest: BlobUse]
    /// Claims a blob for removal unless it is in use at this moment: nil when claimed, and from
    /// then until ``finishRemoval(_:)`` (or ``abandonRemoval(_:)``) the store treats it as absent
    /// (no read starts, a new ingest waits). Otherwise what removal did instead: `.inUse`, or
    /// `.absent` when another removal already holds it.
    ///
    /// Garbage collection claims inside its database transaction and unlinks after the commit.
    func beginRemoval(_ digest: Digest) -> BlobRemoval?
    /// Deletes the files of a blob claimed with ``beginRemoval(_:)`` and ends the claim.
    func finishRemoval(_ digest: Digest) -> BlobRemoval
    /// Ends a claim without deleting anything (the collection did not commit).
    func abandonRemoval(_ digest: Digest)
}

extension CollectableStore {
    /// Deletes a blob (and any partial download of it) unless it is in use at this moment:
    /// ``beginRemoval(_:)`` then ``finishRemoval(_:)``.
    public func remove(_ digest: Digest) -> BlobRemoval {
        if let refused = beginRemoval(digest) { return refused }
        return finishRemoval(digest)
    }
}
