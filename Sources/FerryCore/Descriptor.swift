/// An OCI content descriptor: what a manifest says about a blob or a child manifest.
public struct Descriptor: Hashable, Sendable, Codable {
    public var mediaType: String
    public var digest: Digest
    public var size: Int64
    public var urls: [String]?
    public var annotations: [String: String]?
    public var platform: Platform?
    public var artifactType: String?

    public init(
        mediaType: String,
        digest: Digest,
        size: Int64,
        urls: [String]? = nil,
        annotations: [String: String]? = nil,
        platform: Platform? = nil,
        artifactType: String? = nil
    ) {
        self.mediaType = mediaType
        self.digest = digest
        self.size = size
        self.urls = urls
        self.annotations = annotations
        self.platform = platform
        self.artifactType = artifactType
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.mediaType = try container.decodeIfPresent(String.self, forKey: .mediaType) ?? ""
        self.digest = try container.decode(Digest.self, forKey: .digest)
        self.size = try container.decode(Int64.self, forKey: .size)
        guard size >= 0 else {
            throw DecodingError.dataCorruptedError(forKey: .size, in: container, debugDescription: "negative size")
        }
        self.urls = try container.decodeIfPresent([String].self, forKey: .urls)
        self.annotations = try container.decodeIfPresent([String: String].self, forKey: .annotations)
        self.platform = try container.decodeIfPresent(Platform.self, forKey: .platform)
        self.artifactType = try container.decodeIfPresent(String.self, forKey: .artifactType)
    }

    /// BuildKit marks attestation manifests in an index with this annotation.
    public var isAttestation: Bool {
        annotations?["vnd.docker.reference.type"] == "attestation-manifest"
            || platform.map { $0.os == "unknown" || $0.architecture == "unknown" } ?? false
    }
}
