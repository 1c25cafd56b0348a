import FerryCore
import Foundation

/// Generates test images with `cluster/gen-image.sh` and pushes them with skopeo.
public enum TestImages {
    /// A layer of `size` bytes of incompressible data derived from `seed`: the same seed and
    /// size give the same layer in any image.
    public struct Layer: Sendable {
        public var seed: String
        public var size: String
        public init(_ seed: String, _ size: String) {
            self.seed = seed
            self.size = size
        }
    }

    /// Writes a docker-archive to `path`.
    public static func generate(
        at path: String, tag: String, layers: [Layer], busybox: Bool = false, arch: String = "amd64", variant: String? = nil
    ) async throws {
        var arguments = ["--out", path, "--tag", tag, "--arch", arch]
        if let variant { arguments += ["--variant", variant] }
        if busybox { arguments.append("--busybox") }
        for layer in layers { arguments += ["--layer", "\(layer.seed):\(layer.size)"] }
        try await runChecked(RepositoryLayout.cluster("gen-image.sh"), arguments)
    }

    /// Pushes an archive to `destination` (`host:port/repo:tag`); returns the manifest digest.
    @discardableResult
    public static func push(_ archive: String, to destination: String, oci: Bool = false, credentials: (String, String)? = nil) async throws -> Digest {
        var arguments = [archive, destination]
        if oci { arguments.append("--oci") }
        if let credentials { arguments += ["--creds", "\(credentials.0):\(credentials.1)"] }
        let output = try await runChecked(RepositoryLayout.cluster("push-image.sh"), arguments)
        return try Digest(parsing: output.trimmingWhitespace())
    }

    /// Generates and pushes an image in one go; returns the manifest digest.
    @discardableResult
    public static func make(
        _ destination: String, in directory: String, layers: [Layer], busybox: Bool = false, arch: String = "amd64",
        variant: String? = nil, oci: Bool = false, credentials: (String, String)? = nil
    ) async throws -> Digest {
        let repoTag = String(destination.split(separator: "/", maxSplits: 1)[1])
        let archive = "\(directory)/\(repoTag.replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: ":", with: "_"))-\(arch).tar"
        try await generate(at: archive, tag: repoTag, layers: layers, busybox: busybox, arch: arch, variant: variant)
        return try await push(archive, to: destination, oci: oci, credentials: credentials)
    }

    /// Pushes a manifest list (or OCI index with `oci`) of already pushed tags of `repository`.
    @discardableResult
    public static func pushIndex(
        registry: String, repository: String, tag: String, of tags: [String], oci: Bool = false, attestation: Bool = false
    ) async throws -> Digest {
        var arguments = ["--registry", registry, "--repo", repository, "--tag", tag]
        if oci { arguments.append("--oci") }
        if attestation { arguments.append("--attestation") }
        let output = try await runChecked(RepositoryLayout.cluster("push-index.sh"), arguments + tags)
        return try Digest(parsing: output.trimmingWhitespace())
    }
}
