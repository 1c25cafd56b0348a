import FerryCore
import FerryDiagnostics
import Logging

/// An image reference resolved to one platform's manifest.
public struct ResolvedImage: Sendable {
    /// The reference as asked for.
    public var reference: ImageReference
    /// The descriptor the reference pointed at (an index or a manifest).
    public var top: Descriptor
    /// Every manifest from the top down to the chosen image manifest, with their bytes.
    public var chain: [FetchedManifest]
    /// The chosen image manifest.
    public var manifest: ImageManifest
    public var manifestDigest: Digest
    /// The platform of the chosen entry (from the index; nil for a single-platform image).
    public var platform: Platform?

    /// Config and layers, each once, config first.
    public var blobs: [Descriptor] {
        var seen = Set<Digest>()
        return manifest.blobs.filter { seen.insert($0.digest).inserted }
    }
}

/// Walks from a reference to one platform's image manifest through nested indexes.
public struct ImageResolver: Sendable {
    /// How deep indexes may nest. Default 4.
    public var maxDepth = 4
    let client: RegistryClient

    public init(client: RegistryClient) {
        self.client = client
    }

    /// Resolves `reference` for `platform`. Resolves the tag with HEAD (or, given `held`, starts
    /// from that digest without asking upstream), then takes each manifest from `cached` when it
    /// already holds that digest, and GETs it by digest otherwise.
    public func resolve(
        _ reference: ImageReference,
        platform: Platform,
        held: Digest? = nil,
        cached: @Sendable (Digest) async -> FetchedManifest? = { _ in nil },
        logger: Logger = .disabled
    ) async throws -> ResolvedImage {
        let top: Descriptor
        if let held {
            guard let hit = await cached(held) else {
                throw FerryError(.manifestUnknown, "the leader no longer holds the manifest \(held) of \(reference)")
            }
            top = hit.descriptor
        } else {
            try await client.probe(reference.registry, logger: logger)
            top = try await client.resolve(reference, logger: logger)
        }
        var chain: [FetchedManifest] = []
        var visited = Set<Digest>()
        var current = top
        var chosenPlatform: Platform?
        while true {
            guard visited.insert(current.digest).inserted else {
                throw FerryError(.manifestInvalid, "the index of \(reference) refers to itself (\(current.digest))")
            }
            guard chain.count <= maxDepth else {
                throw FerryError(.manifestInvalid, "the indexes of \(reference) nest deeper than \(maxDepth) levels")
            }
            let fetched: FetchedManifest
            if let hit = await cached(current.digest) {
                fetched = hit
            } else {
                fetched = try await client.fetchManifest(
                    reference.with(digest: current.digest), expectedSize: chain.isEmpty ? nil : current.size, logger: logger)
            }
            chain.append(fetched)
            switch fetched.parsed {
            case .image(let manifest, _):
                guard manifest.isImage else {
                    throw FerryError(
                        .unsupportedManifest,
                        "\(reference) is an OCI artifact (config type \(manifest.config.mediaType)), not a container image")
                }
                return ResolvedImage(
                    reference: reference, top: chain.count == 1 ? fetched.descriptor : top, chain: chain,
                    manifest: manifest, manifestDigest: fetched.digest, platform: chosenPlatform)
            case .index(let index, _):
                switch IndexSelection.select(from: index, for: platform) {
                case .selected(let descriptor):
                    current = descriptor
                    chosenPlatform = descriptor.platform?.normalized() ?? chosenPlatform
                case .noMatch(let available):
                    let list = available.isEmpty ? "none" : available.map(\.description).joined(separator: ", ")
                    throw FerryError(
                        .noMatchingPlatform,
                        "\(reference) has no image for platform \(platform); available: \(list) (choose one with --platform)")
                }
            }
        }
    }
}
