import FerryCore
import FerryFormats
import FerryRegistry
import FerryStore
import FerryTransfer
import Foundation
import Logging
import NIOCore
import Synchronization

/// The proxy's side toward the vendor's registries: tags resolved upstream (or reused for at most
/// the tag TTL), manifests and blobs fetched once into the content store (single-flight per
/// digest) and served from it, cut-through while they arrive. Content is served from the store
/// for a repository only once that repository's registry confirmed it holds it, so one app's
/// cache never answers for another's.
final class ProxyUpstream: Sendable {
    let client: RegistryClient
    let store: BlobStore
    let database: any ProxyStore
    let configuration: ProxyConfiguration
    let logger: Logger
    private let blobFlights = SingleFlight<Digest, Void>()
    private let manifestFlights = SingleFlight<String, FetchedManifest>()
    /// One store write per manifest digest, however many requests (of any repository) fetched it at once.
    private let manifestWrites = SingleFlight<Digest, Void>()
    private let tags = Mutex<[String: (digest: Digest, at: ContinuousClock.Instant)]>([:])
    /// `digest upstream/repository` pairs the upstream confirmed.
    private let confirmed = Mutex<Set<String>>([])

    init(client: RegistryClient, store: BlobStore, database: any ProxyStore, configuration: ProxyConfiguration, logger: Logger) {
        self.client = client
        self.store = store
        self.database = database
        self.configuration = configuration
        self.logger = logger
    }

    /// A manifest: its bytes, digest and media type.
    struct Manifest: Sendable {
        var bytes: [UInt8]
        var digest: Digest
        var mediaType: String
    }

    /// The digest a tag names now (upstream, or remembered for at most the tag TTL).
    func resolve(_ upstream: ImageReference, tag: String) async throws -> Digest {
        let key = "\(upstream.name):\(tag)"
        let now = ContinuousClock.now
        if let hit = tags.withLock({ $0[key] }), now - hit.at < configuration.tagTTL { return hit.digest }
        let descriptor = try await client.resolve(ImageReference(registry: upstream.registry, repository: upstream.repository, tag: tag), logger: logger)
        tags.withLock { $0[key] = (descriptor.digest, now) }
        return descriptor.digest
    }

    /// A manifest by digest: from the store if this upstream repository is known to hold it,
    /// else fetched (and verified by the registry client) and kept.
    func manifest(_ upstream: ImageReference, digest: Digest) async throws -> Manifest {
        let pair = "\(digest) \(upstream.name)"
        if configuration.cache, confirmed.withLock({ $0.contains(pair) }), store.contains(digest),
            let mediaType = try await database.manifestMediaType(digest)
        {
            return Manifest(bytes: try await store.bytes(of: digest, limit: 4 * 1024 * 1024), digest: digest, mediaType: mediaType)
        }
        let reference = ImageReference(registry: upstream.registry, repository: upstream.repository, digest: digest)
        let fetched = try await manifestFlights.run(pair) { [client, logger] in try await client.fetchManifest(reference, logger: logger) }
        if configuration.cache {
            try await manifestWrites.run(digest) { [store] in
                if !store.contains(digest) { try await store.write(fetched.bytes, as: digest) }
            }
            try await database.recordManifest(digest, mediaType: fetched.mediaType, repository: upstream.name)
            _ = confirmed.withLock { $0.insert(pair) }
        }
        return Manifest(bytes: fetched.bytes, digest: digest, mediaType: fetched.mediaType)
    }

    /// A blob's size, confirming that this upstream repository holds it.
    func blobSize(_ upstream: ImageReference, digest: Digest) async throws -> Int64 {
        let pair = "\(digest) \(upstream.name)"
        if confirmed.withLock({ $0.contains(pair) }), let size = store.size(of: digest) { return size }
        let size = try await client.blobSize(repository: upstream, digest: digest, logger: logger)
        _ = confirmed.withLock { $0.insert(pair) }
        return size
    }

    /// Streams `range` of a blob of `size` bytes to `consume`: from the store, or while it arrives
    /// from upstream into the store (one download per digest, however many ask). The last byte
    /// is sent only once the whole blob is verified: on a mismatch the stream is cut, the partial
    /// discarded, and nothing cached. With `--no-cache`, ``streamUncached(_:digest:size:range:_:)``.
    func streamBlob(
        _ upstream: ImageReference, digest: Digest, size: Int64, range: Range<Int64>, _ consume: (ByteBuffer) async throws -> Void
    ) async throws {
        guard configuration.cache else { return try await streamUncached(upstream, digest: digest, size: size, range: range, consume) }
        if store.contains(digest) { return try await store.read(digest, range: range, consume) }
        let descriptor = Descriptor(mediaType: "application/octet-stream", digest: digest, size: size)
        let download: @Sendable () async throws -> Void = { [blobFlights, store, client, logger] in
            try await blobFlights.run(digest) {
                if store.contains(digest) { return }
                try await store.withIngest(digest, expectedSize: size) { ingest in
                    try await client.downloadBlob(repository: upstream, descriptor: descriptor, into: IngestSink(ingest: ingest), logger: logger)
                    try await ingest.commit()
                }
            }
        }
        let finished = DownloadFlag()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                defer { finished.set() }
                try await download()
            }
            // Everything but the last byte as it arrives; the last byte after the commit.
            let early = range.lowerBound..<max(range.lowerBound, min(range.upperBound, size - 1))
            var sent = early.lowerBound
            if !early.isEmpty {
                while true {
                    switch store.availability(of: digest) {
                    case .complete:
                        break
                    case .growing(let progress):
                        var consumerFailed = false
                        do {
                            try await store.readGrowing(progress, range: sent..<early.upperBound) { chunk in
                                do {
                                    try await consume(chunk)
                                } catch {
                                    consumerFailed = true
                                    throw error
                                }
                                sent += Int64(chunk.readableBytes)
                            }
                        } catch {
                            if consumerFailed || error is CancellationError { throw error }
                            // The ingest ended under this reader (committed and closed, or failed):
                            // the download's outcome decides, below; a commit is read from the store.
                            logger.debug("cut-through read ended", metadata: ["digest": "\(digest)", "at": "\(sent)", "reason": "\(error)"])
                        }
                    case .absent:
                        // The download has not opened its ingest yet (or failed before it did).
                        if finished.isSet { break }
                        try await Task.sleep(for: .milliseconds(5))
                        continue
                    }
                    break
                }
            }
            _ = try await group.next()
            if sent < range.upperBound { try await store.read(digest, range: sent..<range.upperBound, consume) }
        }
    }
}

/// Set once a download task has ended (for a reader waiting for its ingest to open).
final class DownloadFlag: Sendable {
    private let state = Mutex(false)
    func set() { state.withLock { $0 = true } }
    var isSet: Bool { state.withLock { $0 } }
}
