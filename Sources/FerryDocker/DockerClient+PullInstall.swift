import FerryCore
import FerryDiagnostics
import Logging

extension DockerClient {
    /// A registry on this machine the engine pulls an image from: the follower's loopback
    /// registry (`127.0.0.1:PORT`, which the engine treats as insecure, so plain HTTP works
    /// without configuration), serving the image's manifest and blobs from the node's store.
    public struct LocalRegistry: Sendable, Equatable {
        /// `127.0.0.1:PORT`.
        public var address: String
        /// The repository the image is under there.
        public var repository: String
        public var auth: RegistryAuth?

        public init(address: String, repository: String, auth: RegistryAuth?) {
            self.address = address
            self.repository = repository
            self.auth = auth
        }

        /// The engine's name of the pulled image, before it gets its own: `ADDRESS/REPO@DIGEST`.
        func pulledName(_ digest: Digest) -> String { "\(address)/\(repository)@\(digest)" }
    }

    /// How long the loopback name's removal may take after a cancelled pull.
    static let cancelledCleanupTimeout: Duration = .seconds(3)

    /// Puts `image` into the engine by having it **pull** from `registry` (the node's own
    /// follower), instead of loading an archive: the engine downloads the layers in parallel,
    /// verifies each blob's digest and extracts each layer as it arrives.
    ///
    /// 1. If the engine already has the image (its ID is the config digest), it only adds the
    ///    tag when missing: ``LoadOutcome/alreadyPresent``.
    /// 2. `POST /images/create?fromImage=ADDRESS/REPO&tag=<manifest digest>`, credentials in
    ///    `X-Registry-Auth`.
    /// 3. Tags the image ID with the original name, then removes the loopback name
    ///    (`DELETE /images/ADDRESS/REPO@DIGEST?noprune=1`), also when a step failed.
    /// 4. Confirms with an inspect that the image exists and carries the tag.
    ///
    /// A failed pull (a blob that does not verify, a stream broken off) leaves no image: the
    /// engine registers an image only once every layer verified.
    public func installByPull(_ image: LoadableImage, from registry: LocalRegistry, logger: Logger = .disabled) async throws -> LoadOutcome {
        if let reference = image.reference { _ = try DockerArchive.tagReference(reference) }
        let imageID = image.imageID.description
        var logger = logger
        logger[metadataKey: "docker.image"] = "\(imageID)"
        if let reference = image.reference { logger[metadataKey: "docker.tag"] = "\(reference)" }
        if let present = try await inspectImage(imageID, logger: logger) {
            if let reference = image.reference, !present.hasTag(reference) {
                try await tag(imageID, as: reference, logger: logger)
            }
            logger.debug("docker image already present")
            return .alreadyPresent
        }
        let pulledName = registry.pulledName(image.manifestDigest)
        do {
            try await pull("\(registry.address)/\(registry.repository)", reference: image.manifestDigest.description, auth: registry.auth, logger: logger)
            if let reference = image.reference { try await tag(imageID, as: reference, logger: logger) }
        } catch {
            // Also when the pull was cancelled (its transfer failed, the follower stops): outside
            // this task's cancellation, but then briefly, so that an engine that stopped
            // answering cannot hold up a shutdown for a whole request timeout.
            let timeout: Duration? = Task.isCancelled ? Self.cancelledCleanupTimeout : nil
            await Task { try? await self.removeName(pulledName, timeout: timeout, logger: logger) }.value
            throw error
        }
        try await removeName(pulledName, logger: logger)
        guard let loaded = try await inspectImage(imageID, logger: logger) else {
            throw FerryError(.dockerLoadFailed, "docker pull failed: the engine reported success but has no image \(imageID)")
        }
        if let reference = image.reference, !loaded.hasTag(reference) {
            throw FerryError(.dockerLoadFailed, "docker pull failed: image \(imageID) is there without the tag \(reference) (tags: \(loaded.repoTags))")
        }
        logger.debug("docker image installed by pull")
        return .loaded(omittedLayers: 0, fallback: false)
    }
}
