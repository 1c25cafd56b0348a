import FerryCore

/// An image as `GET /images/{name}/json` describes it.
public struct DockerImage: Sendable, Hashable {
    /// The image ID, `sha256:<hex>`: the digest of its config.
    public var id: String
    /// Its tags, in the engine's familiar form (`alpine:3`, `127.0.0.1:5000/demo/app:1`).
    public var repoTags: [String]
    /// Its layers' diff IDs (`RootFS.Layers`), base first.
    public var layers: [Digest]

    public init(id: String, repoTags: [String], layers: [Digest]) {
        self.id = id
        self.repoTags = repoTags
        self.layers = layers
    }

    /// Whether the image carries `reference` (compared after normalising both, so
    /// `docker.io/library/alpine:3` matches `alpine:3`).
    public func hasTag(_ reference: String) -> Bool {
        guard let wanted = try? ImageReference(parsing: reference) else { return repoTags.contains(reference) }
        return repoTags.contains { (try? ImageReference(parsing: $0)) == wanted }
    }
}

/// The JSON of `GET /images/{name}/json`, the fields Ferry reads.
struct DockerImageInspect: Decodable {
    struct RootFS: Decodable {
        var type: String?
        var layers: [Digest]?

        enum CodingKeys: String, CodingKey {
            case type = "Type"
            case layers = "Layers"
        }
    }

    var id: String
    var repoTags: [String]?
    var rootFS: RootFS?

    enum CodingKeys: String, CodingKey {
        case id = "Id"
        case repoTags = "RepoTags"
        case rootFS = "RootFS"
    }

    var image: DockerImage {
        DockerImage(id: id, repoTags: repoTags ?? [], layers: rootFS?.layers ?? [])
    }
}

/// One entry of `GET /images/json`.
struct DockerImageSummary: Decodable {
    var id: String

    enum CodingKeys: String, CodingKey {
        case id = "Id"
    }
}
