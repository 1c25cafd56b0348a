import FerryCore
import Foundation

/// Ask a node to collect garbage (``AdminAPI/gc``).
public struct GarbageCollectionRequest: Codable, Sendable, Hashable {
    /// Keep the last `keep` versions of each repository (per registry and platform) and drop
    /// older ones; nil keeps every image and removes only what no image references.
    public var keep: Int?
    /// Report what would be removed, and remove nothing.
    public var dryRun: Bool

    public init(keep: Int? = nil, dryRun: Bool = false) {
        self.keep = keep
        self.dryRun = dryRun
    }
}

/// What a collection removed (or, for a dry run, would remove).
public struct GarbageCollectionReport: Codable, Sendable, Hashable {
    /// An image dropped by retention.
    public struct Image: Codable, Sendable, Hashable {
        public var reference: String
        public var platform: String

        public init(reference: String, platform: String) {
            self.reference = reference
            self.platform = platform
        }
    }

    /// A blob removed, or kept because it was in use.
    public struct Blob: Codable, Sendable, Hashable {
        public var digest: Digest
        public var size: Int64
        /// For a blob kept: how it was in use (`being read`, `being written`, `leased by …`).
        public var reason: String?

        public init(digest: Digest, size: Int64, reason: String? = nil) {
            self.digest = digest
            self.size = size
            self.reason = reason
        }
    }

    /// `leader` or the follower's name.
    public var node: String
    public var dryRun: Bool
    public var keep: Int?
    public var images: [Image]
    public var blobs: [Blob]
    /// Digests of the manifests removed.
    public var manifests: [Digest]
    /// Unreferenced blobs left in place because they were in use; a later collection takes them.
    public var inUse: [Blob]
    /// Bytes freed (or that would be).
    public var bytesFreed: Int64

    public init(
        node: String, dryRun: Bool, keep: Int?, images: [Image], blobs: [Blob], manifests: [Digest], inUse: [Blob], bytesFreed: Int64
    ) {
        self.node = node
        self.dryRun = dryRun
        self.keep = keep
        self.images = images
        self.blobs = blobs
        self.manifests = manifests
        self.inUse = inUse
        self.bytesFreed = bytesFreed
    }
}
