import FerryCore
import Foundation

/// The `manifest.json` of a `docker save` archive: one entry per image.
struct DockerSaveManifest: Encodable {
    var config: String
    var repoTags: [String]
    var layers: [String]

    enum CodingKeys: String, CodingKey {
        case config = "Config"
        case repoTags = "RepoTags"
        case layers = "Layers"
    }

    /// `[{…}]`, compact, keys sorted, slashes unescaped: the same bytes every time.
    func encoded() throws(FerryError) -> [UInt8] {
        try encodeJSON([self])
    }
}

/// The `index.json` of an OCI image layout holding one image manifest, annotated with its name
/// as Docker 25+'s `docker save` does (`io.containerd.image.name`, `org.opencontainers.image.ref.name`).
struct OCILayoutIndex: Encodable {
    struct Entry: Encodable {
        var mediaType: String
        var digest: Digest
        var size: Int64
        var annotations: [String: String]?
    }

    var schemaVersion = 2
    var mediaType = MediaType.ociIndex
    var manifests: [Entry]

    init(manifestMediaType: String, digest: Digest, size: Int64, name: ImageReference?) {
        var annotations: [String: String]?
        if let name, let tag = name.tag {
            annotations = ["io.containerd.image.name": name.description, "org.opencontainers.image.ref.name": tag]
        }
        manifests = [Entry(mediaType: manifestMediaType, digest: digest, size: size, annotations: annotations)]
    }

    func encoded() throws(FerryError) -> [UInt8] {
        try encodeJSON(self)
    }
}

private func encodeJSON(_ value: some Encodable) throws(FerryError) -> [UInt8] {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    do {
        return Array(try encoder.encode(value))
    } catch {
        throw FerryError(.internal, "could not encode archive metadata: \(error)")
    }
}
