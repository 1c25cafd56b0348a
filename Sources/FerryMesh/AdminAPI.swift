import FerryCore
import Foundation

/// The admin API the CLI speaks to the leader: routes and wire types, shared by the server and
/// the client so the two cannot drift apart. Every route needs the admin token.
public enum AdminAPI {
    public static let prefix = "/admin/v1"
    /// `POST` a ``FetchRequest``; answers a ``FetchResponse``.
    public static let fetch = "/admin/v1/fetch"
    /// `GET` every image the leader holds or is fetching: an ``ImageList``.
    public static let images = "/admin/v1/images"
    /// `GET` one image with per-blob progress: an ``ImageStatus``. Router form with `:id`.
    public static let image = "/admin/v1/images/:id"

    public static func image(id: Int64) -> String { "/admin/v1/images/\(id)" }
}

/// Ask the leader to fetch images from upstream.
public struct FetchRequest: Codable, Sendable, Hashable {
    /// Image references (`registry/repository:tag` or `…@sha256:…`).
    public var images: [String]
    /// `os/arch[/variant]`; default the leader's own platform.
    public var platform: String?

    public init(images: [String], platform: String? = nil) {
        self.images = images
        self.platform = platform
    }
}

public struct FetchResponse: Codable, Sendable, Hashable {
    public var images: [ImageStatus]
    public init(images: [ImageStatus]) { self.images = images }
}

public struct ImageList: Codable, Sendable, Hashable {
    public var images: [ImageStatus]
    public init(images: [ImageStatus]) { self.images = images }
}

/// An error as registries send it, used on every Ferry HTTP API.
public struct ErrorEntry: Codable, Sendable, Hashable {
    public var code: String
    public var message: String

    public init(code: String, message: String) {
        self.code = code
        self.message = message
    }

    public init(_ error: FerryError) {
        self.init(code: error.code.rawValue, message: error.message)
    }

    public var ferryError: FerryError { FerryError(FerryError.Code(code), message) }
}

/// `{"errors":[{"code":"…","message":"…"}]}`
public struct ErrorResponse: Codable, Sendable, Hashable {
    public var errors: [ErrorEntry]
    public init(errors: [ErrorEntry]) { self.errors = errors }
}

/// One image on the leader and how far its fetch has come.
public struct ImageStatus: Codable, Sendable, Hashable {
    public var id: Int64
    public var reference: String
    /// The platform asked for.
    public var platform: String
    /// The platform of the chosen manifest, when an index said.
    public var resolvedPlatform: String?
    /// `pending`, `fetching`, `present` or `failed`.
    public var state: String
    /// What the reference resolved to upstream (index or manifest).
    public var digest: String?
    public var manifestDigest: String?
    public var size: Int64
    public var bytesDone: Int64
    public var error: ErrorEntry?
    public var requestedAt: Date
    public var fetchedAt: Date?
    /// Per-blob progress, config first (only on the single-image route).
    public var blobs: [BlobStatus]?

    public init(
        id: Int64, reference: String, platform: String, resolvedPlatform: String?, state: String, digest: String?,
        manifestDigest: String?, size: Int64, bytesDone: Int64, error: ErrorEntry?, requestedAt: Date, fetchedAt: Date?,
        blobs: [BlobStatus]?
    ) {
        self.id = id
        self.reference = reference
        self.platform = platform
        self.resolvedPlatform = resolvedPlatform
        self.state = state
        self.digest = digest
        self.manifestDigest = manifestDigest
        self.size = size
        self.bytesDone = bytesDone
        self.error = error
        self.requestedAt = requestedAt
        self.fetchedAt = fetchedAt
        self.blobs = blobs
    }

    public var isFinished: Bool { state == "present" || state == "failed" }
}

public struct BlobStatus: Codable, Sendable, Hashable {
    public var digest: String
    public var mediaType: String
    public var size: Int64
    public var bytesDone: Int64
    /// `missing`, `fetching`, `present` or `failed`.
    public var state: String
    public var error: ErrorEntry?

    public init(digest: String, mediaType: String, size: Int64, bytesDone: Int64, state: String, error: ErrorEntry?) {
        self.digest = digest
        self.mediaType = mediaType
        self.size = size
        self.bytesDone = bytesDone
        self.state = state
        self.error = error
    }
}

/// Encoders with the settings every Ferry API uses (ISO 8601 dates, sorted keys).
public enum FerryJSON {
    public static func encoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys]
        return encoder
    }

    public static func decoder() -> JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }
}
