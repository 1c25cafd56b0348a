import Foundation

/// An image manifest (Docker schema 2 or OCI): one platform's config and layers.
public struct ImageManifest: Sendable, Hashable, Codable {
    public var schemaVersion: Int
    public var mediaType: String?
    public var artifactType: String?
    public var config: Descriptor
    public var layers: [Descriptor]
    public var annotations: [String: String]?

    public init(schemaVersion: Int = 2, mediaType: String?, config: Descriptor, layers: [Descriptor]) {
        self.schemaVersion = schemaVersion
        self.mediaType = mediaType
        self.config = config
        self.layers = layers
    }

    /// Every blob the manifest references, config first.
    public var blobs: [Descriptor] { [config] + layers }

    /// Whether this is a runnable container image rather than an OCI artifact.
    public var isImage: Bool { artifactType == nil && MediaType.configs.contains(config.mediaType) }
}

/// An index (Docker manifest list or OCI image index): per-platform manifests.
public struct ImageIndex: Sendable, Hashable, Codable {
    public var schemaVersion: Int
    public var mediaType: String?
    public var manifests: [Descriptor]
    public var annotations: [String: String]?

    public init(schemaVersion: Int = 2, mediaType: String?, manifests: [Descriptor]) {
        self.schemaVersion = schemaVersion
        self.mediaType = mediaType
        self.manifests = manifests
    }
}

/// A manifest decoded from the exact bytes a registry sent.
public enum ParsedManifest: Sendable, Hashable {
    case image(ImageManifest, mediaType: String)
    case index(ImageIndex, mediaType: String)

    /// The manifest size cap: distribution refuses bodies above 4 MiB, so Ferry does too.
    public static let maximumSize = 4 * 1024 * 1024

    public var mediaType: String {
        switch self {
        case .image(_, let mediaType), .index(_, let mediaType): mediaType
        }
    }

    /// The fields that decide a manifest's kind, each read leniently so that a schema 1 body
    /// is recognised even when its other fields are odd.
    private struct Probe: Decodable {
        var schemaVersion: Int?
        var mediaType: String?
        var hasManifests: Bool
        var hasConfig: Bool
        var hasFSLayers: Bool

        enum CodingKeys: String, CodingKey {
            case schemaVersion, mediaType, manifests, config, fsLayers
        }

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            schemaVersion = try? container.decodeIfPresent(Int.self, forKey: .schemaVersion)
            mediaType = try? container.decodeIfPresent(String.self, forKey: .mediaType)
            func present(_ key: CodingKeys) -> Bool { container.contains(key) && (try? container.decodeNil(forKey: key)) == false }
            hasManifests = present(.manifests)
            hasConfig = present(.config)
            hasFSLayers = present(.fsLayers)
        }
    }

    private static let schema1Error = FerryError(
        .unsupportedManifest,
        "the image uses a Docker schema 1 manifest, which Ferry does not support; re-push it with a current docker or skopeo to get a schema 2 or OCI manifest"
    )

    /// Decodes a manifest, deciding its kind from `Content-Type` and the body.
    ///
    /// Schema 1 is refused first (its digest is not the hash of the bytes, so checking the digest
    /// first would report a misleading mismatch). A body `mediaType` that disagrees with the
    /// `Content-Type` is refused, as the distribution spec requires.
    public static func decode(_ bytes: some DataProtocol, contentType: String?) throws(FerryError) -> ParsedManifest {
        let headerType = contentType.map(MediaType.essence)
        if let headerType, MediaType.schema1.contains(headerType) { throw schema1Error }
        let data = Data(bytes)
        guard data.count <= maximumSize else {
            throw FerryError(.manifestTooLarge, "manifest is \(data.count) bytes, over the 4 MiB limit")
        }
        let probe: Probe
        do {
            probe = try JSONDecoder().decode(Probe.self, from: data)
        } catch {
            throw FerryError(.manifestInvalid, "manifest is not valid JSON (\(headerType ?? "no content type"))")
        }
        let bodyType = probe.mediaType.map(MediaType.essence)
        if probe.schemaVersion == 1 || probe.hasFSLayers || bodyType.map(MediaType.schema1.contains) == true {
            throw schema1Error
        }
        if let bodyType, let headerType, headerType != "application/json", bodyType != headerType {
            throw FerryError(.manifestInvalid, "manifest mediaType '\(bodyType)' disagrees with its Content-Type '\(headerType)'")
        }
        var mediaType = bodyType ?? headerType ?? ""
        if mediaType.isEmpty || mediaType == "application/json" {
            mediaType = probe.hasManifests ? MediaType.ociIndex : (probe.hasConfig ? MediaType.ociManifest : "")
        }
        let decoder = JSONDecoder()
        do {
            if MediaType.imageManifests.contains(mediaType) {
                return .image(try decoder.decode(ImageManifest.self, from: data), mediaType: mediaType)
            }
            if MediaType.indexes.contains(mediaType) {
                return .index(try decoder.decode(ImageIndex.self, from: data), mediaType: mediaType)
            }
        } catch let error as DecodingError {
            throw FerryError(.manifestInvalid, "manifest (\(mediaType)) could not be decoded: \(error.shortDescription)")
        } catch {
            throw FerryError(.manifestInvalid, "manifest (\(mediaType)) could not be decoded")
        }
        throw FerryError(.unsupportedManifest, "unsupported manifest media type '\(mediaType.isEmpty ? "unknown" : mediaType)'")
    }
}

extension DecodingError {
    /// A one-line summary naming the failing field, for error messages.
    public var shortDescription: String {
        func path(_ context: Context) -> String {
            let keys = context.codingPath.map { $0.intValue.map(String.init) ?? $0.stringValue }
            return keys.isEmpty ? "top level" : keys.joined(separator: ".")
        }
        switch self {
        case .keyNotFound(let key, let context): return "missing field '\(key.stringValue)' at \(path(context))"
        case .typeMismatch(_, let context): return "wrong type at \(path(context))"
        case .valueNotFound(_, let context): return "missing value at \(path(context))"
        case .dataCorrupted(let context): return "\(context.debugDescription) at \(path(context))"
        @unknown default: return "invalid JSON"
        }
    }
}
