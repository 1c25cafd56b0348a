import FerryCore
import Foundation
import GRDB

/// One blob (layer or config) and its transfer state.
public struct BlobRecord: Codable, Sendable, Hashable, SnakeCaseRecord, PersistableRecord {
    public static let databaseTableName = "blobs"

    public var digest: Digest
    public var size: Int64
    public var mediaType: String
    public var state: BlobState
    public var bytesDone: Int64
    public var errorCode: String?
    public var errorMessage: String?
    public var updatedAt: Date

    public enum Columns {
        public static let digest = Column(CodingKeys.digest)
        public static let state = Column(CodingKeys.state)
        // Snake case, as the encoding strategy writes them (`Column(CodingKeys.x)` would not be).
        public static let bytesDone = Column("bytes_done")
    }

    public init(digest: Digest, size: Int64, mediaType: String, state: BlobState = .missing, bytesDone: Int64 = 0, updatedAt: Date = Date()) {
        self.digest = digest
        self.size = size
        self.mediaType = mediaType
        self.state = state
        self.bytesDone = bytesDone
        self.updatedAt = updatedAt
    }
}

/// A manifest or index, with the exact bytes the upstream sent (what `/v2/` serves).
public struct ManifestRecord: Codable, Sendable, Hashable, SnakeCaseRecord, PersistableRecord {
    public static let databaseTableName = "manifests"

    public var digest: Digest
    public var mediaType: String
    public var size: Int64
    public var bytes: Data
    public var createdAt: Date

    public init(digest: Digest, mediaType: String, bytes: [UInt8], createdAt: Date = Date()) {
        self.digest = digest
        self.mediaType = mediaType
        self.size = Int64(bytes.count)
        self.bytes = Data(bytes)
        self.createdAt = createdAt
    }
}

/// An image reference for one platform, and what it resolved to.
public struct ImageRecord: Codable, Sendable, Hashable, SnakeCaseRecord, RowIDRecord {
    public static let databaseTableName = "images"

    public var id: Int64?
    /// The canonical reference as asked (`registry/repository:tag` or `…@digest`).
    public var reference: String
    public var platform: String
    public var registry: String
    public var repository: String
    public var tag: String?
    /// What the reference pointed at upstream (index or manifest).
    public var topDigest: Digest?
    /// The chosen platform's image manifest.
    public var manifestDigest: Digest?
    /// What the tag resolved to at the last fetch that completed: what `/v2/` serves for the
    /// tag, also while a newer fetch of it is in progress or after one failed.
    public var servedDigest: Digest?
    /// The platform of the chosen manifest, when the index said.
    public var resolvedPlatform: String?
    public var state: ImageState
    public var errorCode: String?
    public var errorMessage: String?
    /// Sum of the image's unique blob sizes, once resolved.
    public var size: Int64
    /// When it was last asked for (a fetch or an install naming it).
    public var requestedAt: Date
    public var updatedAt: Date
    public var fetchedAt: Date?
    /// The pull policy of the last request for this image.
    public var pullPolicy: PullPolicy = .default
    /// Set when the last resolution used the held digest because the upstream did not answer.
    public var warning: String?

    public enum Columns {
        public static let id = Column(CodingKeys.id)
        public static let reference = Column(CodingKeys.reference)
        public static let platform = Column(CodingKeys.platform)
        public static let registry = Column(CodingKeys.registry)
        public static let repository = Column(CodingKeys.repository)
        public static let tag = Column(CodingKeys.tag)
        public static let state = Column(CodingKeys.state)
        public static let fetchedAt = Column("fetched_at")
    }

    public init(reference: ImageReference, platform: Platform, now: Date = Date()) {
        self.reference = reference.description
        self.platform = platform.description
        self.registry = reference.registry
        self.repository = reference.repository
        self.tag = reference.tag
        self.state = .pending
        self.size = 0
        self.requestedAt = now
        self.updatedAt = now
    }

    /// Asked for again: back to `pending` (its tag resolved again), its last error forgotten.
    mutating func askAgain(now: Date) {
        state = .pending
        errorCode = nil
        errorMessage = nil
        updatedAt = now
    }
}

/// Which blobs an image uses, in manifest order (config first).
public struct ImageBlobRecord: Codable, Sendable, Hashable, SnakeCaseRecord, PersistableRecord {
    public static let databaseTableName = "image_blobs"
    public var imageId: Int64
    public var digest: Digest
    public var position: Int
}

/// Which manifests (index chain and image manifest) an image uses.
public struct ImageManifestRecord: Codable, Sendable, Hashable, SnakeCaseRecord, PersistableRecord {
    public static let databaseTableName = "image_manifests"
    public var imageId: Int64
    public var digest: Digest
    public var position: Int
}
