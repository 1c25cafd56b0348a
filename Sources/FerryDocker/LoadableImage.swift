import Foundation
import FerryCore

/// An image held in the caller's content store, ready to be installed into an engine.
public struct LoadableImage: Sendable, Hashable {
    /// The tag to give it, in docker form (`127.0.0.1:5000/demo/app:1`, `alpine:3`); nil for an
    /// image pulled by digest only, which is loaded untagged (the engine keeps no digests).
    public var reference: String?
    /// The image manifest (Docker schema 2 or OCI), one platform's.
    public var manifest: ImageManifest
    /// The manifest's exact bytes, as its digest was computed over them.
    public var manifestBytes: [UInt8]
    public var manifestDigest: Digest
    /// The config blob's bytes; its digest is the image ID.
    public var config: [UInt8]

    public init(reference: String?, manifest: ImageManifest, manifestBytes: [UInt8], manifestDigest: Digest, config: [UInt8]) {
        self.reference = reference
        self.manifest = manifest
        self.manifestBytes = manifestBytes
        self.manifestDigest = manifestDigest
        self.config = config
    }

    /// The engine's ID for the image: the config digest.
    public var imageID: Digest { manifest.config.digest }

    /// The config, decoded and checked against the manifest: the diff IDs must match the
    /// layers one to one, and the bytes must hash to the manifest's config digest.
    public func decodedConfig() throws(FerryError) -> ImageConfig {
        let digest = Digest.sha256(of: config)
        guard manifest.config.digest.algorithm != .sha256 || digest == manifest.config.digest else {
            throw FerryError(.digestMismatch, "image config hashes to \(digest), but the manifest names \(manifest.config.digest)")
        }
        let decoded: ImageConfig
        do {
            decoded = try JSONDecoder().decode(ImageConfig.self, from: Data(config))
        } catch let error as DecodingError {
            throw FerryError(.manifestInvalid, "image config \(manifest.config.digest) could not be decoded: \(error.shortDescription)")
        } catch {
            throw FerryError(.manifestInvalid, "image config \(manifest.config.digest) could not be decoded")
        }
        guard decoded.rootfs.diffIDs.count == manifest.layers.count else {
            throw FerryError(
                .manifestInvalid,
                "image config lists \(decoded.rootfs.diffIDs.count) diff IDs but the manifest has \(manifest.layers.count) layers")
        }
        return decoded
    }
}

/// What ``DockerClient/install(_:reader:logger:)`` did.
public enum LoadOutcome: Sendable, Hashable {
    /// The engine already had the image (it was tagged if the tag was missing); nothing was sent.
    case alreadyPresent
    /// The image was loaded. `omittedLayers` layer files were left out of the archive because
    /// the engine already held them; `fallback` is true when that load failed and the full
    /// archive was sent instead.
    case loaded(omittedLayers: Int, fallback: Bool)
}
