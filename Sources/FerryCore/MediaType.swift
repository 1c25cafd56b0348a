/// Media types of the manifests and blobs Ferry handles.
public enum MediaType {
    public static let dockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
    public static let dockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
    public static let dockerSchema1 = "application/vnd.docker.distribution.manifest.v1+json"
    public static let dockerSchema1Signed = "application/vnd.docker.distribution.manifest.v1+prettyjws"
    public static let ociManifest = "application/vnd.oci.image.manifest.v1+json"
    public static let ociIndex = "application/vnd.oci.image.index.v1+json"

    public static let dockerConfig = "application/vnd.docker.container.image.v1+json"
    public static let ociConfig = "application/vnd.oci.image.config.v1+json"

    public static let dockerLayerGzip = "application/vnd.docker.image.rootfs.diff.tar.gzip"
    public static let dockerForeignLayerGzip = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
    public static let ociLayer = "application/vnd.oci.image.layer.v1.tar"
    public static let ociLayerGzip = "application/vnd.oci.image.layer.v1.tar+gzip"
    public static let ociLayerZstd = "application/vnd.oci.image.layer.v1.tar+zstd"

    /// Image manifest types (one platform's config + layers).
    public static let imageManifests: Set<String> = [dockerManifest, ociManifest]
    /// Index types (a list of per-platform manifests).
    public static let indexes: Set<String> = [dockerManifestList, ociIndex]
    /// Schema 1 types, detected only to be refused.
    public static let schema1: Set<String> = [dockerSchema1, dockerSchema1Signed]
    /// Image config types.
    public static let configs: Set<String> = [dockerConfig, ociConfig]

    /// The `Accept` header for manifest requests: every type Ferry can use. Schema 1 is not
    /// offered, so registries that convert on the fly (distribution does, by tag) will not.
    public static let manifestAccept = [ociIndex, dockerManifestList, ociManifest, dockerManifest].joined(separator: ", ")

    /// The media type without parameters, lowercased (`application/json; charset=utf-8` → `application/json`).
    public static func essence(_ contentType: String) -> String {
        let base = contentType.split(separator: ";", maxSplits: 1).first.map(String.init) ?? contentType
        return base.trimmingWhitespace().lowercased()
    }
}

extension StringProtocol {
    /// The string without leading and trailing whitespace.
    public func trimmingWhitespace() -> String {
        let characters = Array(self)
        guard let start = characters.firstIndex(where: { !$0.isWhitespace }),
            let end = characters.lastIndex(where: { !$0.isWhitespace })
        else { return "" }
        return String(characters[start...end])
    }
}
