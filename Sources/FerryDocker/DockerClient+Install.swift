import FerryCore
import FerryDiagnostics
import Logging
import NIOCore

extension DockerClient {
    /// Puts `image` into the engine, sending as little as it can, and confirms it is there.
    ///
    /// 1. If the engine already has the image (its ID is the config digest), it only adds the
    ///    tag when missing: ``LoadOutcome/alreadyPresent``.
    /// 2. Otherwise it finds the longest run of the image's first layers (config
    ///    `rootfs.diff_ids`) that some image in the engine starts with: those layers exist there.
    /// 3. It streams a docker-archive without those layer files (dockerd 20.10 does not open a
    ///    layer whose ChainID it has) and loads it; if that load fails and files were left out,
    ///    it loads the full archive instead. Zstd layers are decompressed on the way for
    ///    engines older than 23.0; an OCI image layout is added for engines 25 and later.
    /// 4. It confirms with an inspect that the image exists and carries the tag.
    ///
    /// - Parameters:
    ///   - image: the image and the tag to give it.
    ///   - reader: streams a blob's bytes from the caller's store.
    /// - Throws: ``FerryError/Code/dockerLoadFailed`` with the engine's message when the engine
    ///   refuses the image or does not show it afterwards; ``FerryError/Code/dockerUnreachable``;
    ///   the reader's own errors.
    public func install(_ image: LoadableImage, reader: @escaping DockerArchive.BlobReader, logger: Logger = .disabled) async throws -> LoadOutcome {
        let config = try image.decodedConfig()
        if let reference = image.reference { _ = try DockerArchive.tagReference(reference) }
        let imageID = image.imageID.description
        var logger = logger
        logger[metadataKey: "docker.image"] = "\(imageID)"
        if let reference = image.reference { logger[metadataKey: "docker.tag"] = "\(reference)" }
        let engine = try await engineInfo(logger: logger)

        if let present = try await inspectImage(imageID, logger: logger) {
            if let reference = image.reference, !present.hasTag(reference) {
                try await tag(imageID, as: reference, logger: logger)
            }
            logger.debug("docker image already present")
            return .alreadyPresent
        }

        let held = try await heldLayerCount(of: config.rootfs.diffIDs, logger: logger)
        let omitting = Set(image.manifest.layers.prefix(held).map(\.digest))
            .subtracting(image.manifest.layers.dropFirst(held).map(\.digest))
        var measured: [Digest: DockerArchive.DecompressedLayer] = [:]
        var fallback = false
        var omittedCount = 0
        do {
            let archive = try await archive(
                for: image, config: config, engine: engine, omitting: omitting, measured: &measured, reader: reader, logger: logger)
            omittedCount = archive.omittedLayers.count
            _ = try await load(archive, logger: logger)
        } catch let error as FerryError where error.code == .dockerLoadFailed && !omitting.isEmpty {
            logger.debug(
                "docker load without the held layers failed; sending the full archive",
                metadata: ["docker.error": "\(error.message)", "docker.omitted": "\(omitting.count)"])
            let archive = try await archive(
                for: image, config: config, engine: engine, omitting: [], measured: &measured, reader: reader, logger: logger)
            _ = try await load(archive, logger: logger)
            fallback = true
            omittedCount = 0
        }

        guard let loaded = try await inspectImage(imageID, logger: logger) else {
            throw FerryError(.dockerLoadFailed, "docker load failed: the engine reported success but has no image \(imageID)")
        }
        if let reference = image.reference, !loaded.hasTag(reference) {
            throw FerryError(
                .dockerLoadFailed, "docker load failed: image \(imageID) was loaded without the tag \(reference) (tags: \(loaded.repoTags))")
        }
        logger.debug("docker image installed", metadata: ["docker.omitted": "\(omittedCount)", "docker.fallback": "\(fallback)"])
        return .loaded(omittedLayers: omittedCount, fallback: fallback)
    }

    /// How many of `diffIDs`, from the base up, some image in the engine starts with.
    func heldLayerCount(of diffIDs: [Digest], logger: Logger) async throws -> Int {
        guard !diffIDs.isEmpty else { return 0 }
        var best = 0
        for id in try await listImages(logger: logger) {
            guard let image = try await inspectImage(id, logger: logger) else { continue }
            let common = zip(diffIDs, image.layers).prefix { $0 == $1 }.count
            best = max(best, common)
            if best == diffIDs.count { break }
        }
        return best
    }

    /// The archive for `image` on `engine`, measuring zstd layers that need decompressing
    /// (results kept in `measured` for a second attempt).
    private func archive(
        for image: LoadableImage,
        config: ImageConfig,
        engine: DockerEngineInfo,
        omitting: Set<Digest>,
        measured: inout [Digest: DockerArchive.DecompressedLayer],
        reader: @escaping DockerArchive.BlobReader,
        logger: Logger
    ) async throws -> DockerArchive {
        var zstd: ZstdDecompressor?
        if !engine.readsZstdLayers {
            for (index, layer) in image.manifest.layers.enumerated()
            where Self.isZstd(layer.mediaType) && !omitting.contains(layer.digest) && measured[layer.digest] == nil {
                guard let program = configuration.zstd else {
                    throw FerryError(
                        .unsupported,
                        "layer \(layer.digest) is zstd-compressed, which Docker \(engine.serverVersion) cannot read, "
                            + "and no zstd program was found to decompress it; install zstd (Debian package 'zstd')")
                }
                zstd = program
                let result = try await program.measure(layer.digest, reader: reader)
                guard result.diffID == config.rootfs.diffIDs[index] else {
                    throw FerryError(
                        .dockerLoadFailed,
                        "docker load failed: layer \(index) (\(layer.digest)) decompresses to \(result.diffID), "
                            + "but the image config expects \(config.rootfs.diffIDs[index])")
                }
                logger.debug(
                    "zstd layer measured for decompression",
                    metadata: ["docker.layer": "\(layer.digest)", "docker.layer.size": "\(result.size)"])
                measured[layer.digest] = result
            }
            if !measured.isEmpty { zstd = configuration.zstd }
        }
        let options = DockerArchive.Options(
            includeOCILayout: engine.expectsOCILayout, omitting: omitting,
            decompressed: engine.readsZstdLayers ? [:] : measured, zstd: zstd)
        return try DockerArchive(image: image, options: options, reader: reader)
    }

    static func isZstd(_ mediaType: String) -> Bool {
        MediaType.essence(mediaType).hasSuffix("+zstd")
    }
}
