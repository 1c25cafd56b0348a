/// The parts of an image config (`application/vnd.docker.container.image.v1+json`) Ferry reads.
public struct ImageConfig: Sendable, Hashable, Codable {
    public struct RootFS: Sendable, Hashable, Codable {
        public var type: String
        public var diffIDs: [Digest]

        enum CodingKeys: String, CodingKey {
            case type
            case diffIDs = "diff_ids"
        }
    }

    public var architecture: String
    public var os: String
    public var variant: String?
    public var rootfs: RootFS

    public var platform: Platform {
        Platform(os: os, architecture: architecture, variant: variant).normalized()
    }
}
