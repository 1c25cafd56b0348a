import FerryConcurrency
import FerryCore
import FerryFormats
import FerryRegistry
import FerryStore
import FerryTransfer
import Foundation
import Logging
import Metrics
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
    /// What each `repository:tag` named when this process last resolved it: when (for the TTL),
    /// and the wall-clock time (to compare with the database's record of another replica's).
    private let tags = Mutex<[String: (digest: Digest, at: ContinuousClock.Instant, wall: Date)]>([:])
    /// `digest upstream/repository` pairs the upstream confirmed.
    private let confirmed = Mutex<Set<String>>([])
    /// The size an upstream gave for each blob it confirmed (one per digest, whatever the
    /// repository), and when: it answers requests for the blob while it arrives, and for the tag
    /// TTL after the upstream gave it (the requests of customers pulling at once), so that they
    /// do not ask again; a failed download of the blob drops it.
    private let confirmedSizes = Mutex<[Digest: (size: Int64, at: ContinuousClock.Instant)]>([:])
    /// One upstream `HEAD` per `digest upstream/repository` pair, however many requests ask at once.
    private let sizeFlights = SingleFlight<String, Int64>()
    /// When an answer from the cache in the upstream's place was last logged, by item.
    private let staleLogged = Mutex<[String: ContinuousClock.Instant]>([:])
    /// When each registry last failed to answer, and how.
    private let outages = Mutex<[String: (at: ContinuousClock.Instant, error: FerryError)]>([:])

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

    /// The digest a tag names now (upstream, or remembered for at most the tag TTL; while the
    /// upstream is down, what it last named if that manifest is cached for this repository).
    func resolve(_ upstream: ImageReference, tag: String) async throws -> Digest {
        let key = "\(upstream.name):\(tag)"
        let now = ContinuousClock.now
        if let hit = tags.withLock({ $0[key] }), now - hit.at < configuration.tagTTL { return hit.digest }
        if let down = recentOutage(upstream), let stale = try await staleTag(upstream, tag: tag, error: down) { return stale }
        let descriptor: Descriptor
        do {
            descriptor = try await client.resolve(ImageReference(registry: upstream.registry, repository: upstream.repository, tag: tag), logger: logger)
        } catch where Self.isOutage(error) {
            noteOutage(upstream, error)
            guard let stale = try await staleTag(upstream, tag: tag, error: error) else { throw error }
            return stale
        } catch {
            await forget(upstream, tag: tag, after: error)
            throw error
        }
        await answered(upstream, tag: tag, digest: descriptor.digest, at: now)
        return descriptor.digest
    }

    /// The tags of the upstream repository; while the upstream is down, those recorded for it
    /// whose manifests are cached and confirmed for it (what a pull through the cache can get),
    /// as ``resolve(_:tag:)`` answers a tag then.
    func listTags(_ upstream: ImageReference) async throws -> [String] {
        if let down = recentOutage(upstream), let stale = try await staleTags(upstream, error: down) { return stale }
        do {
            let tags = try await client.listTags(repository: upstream, logger: logger)
            await answered(upstream)
            return tags
        } catch where Self.isOutage(error) {
            noteOutage(upstream, error)
            guard let stale = try await staleTags(upstream, error: error) else { throw error }
            return stale
        }
    }

    /// While the upstream is down: the recorded tags whose manifests the cache can serve; nil
    /// when none (the outage's error then stands).
    private func staleTags(_ upstream: ImageReference, error: any Error) async throws -> [String]? {
        guard configuration.cache, let recorded = try? await database.recordedTags(repository: upstream.name) else { return nil }
        var tags: [String] = []
        for (tag, digest) in recorded {
            do {
                if try await staleManifest(upstream, digest: digest) != nil { tags.append(tag) }
            } catch let error as FerryError where [.blobUnknown, .invalidArgument].contains(error.code) {
                continue  // its manifest cannot be read from the store now (collected meanwhile, too large): left out
            } catch {
                return nil  // the database failing meanwhile: the outage's error stands, not a list missing tags
            }
        }
        guard !tags.isEmpty else { return nil }
        stale(upstream, "tag list", error: error)
        return tags
    }

    /// Whether `error` means the upstream gave no answer (unreachable, failing, overloaded), as
    /// opposed to an answer (not found, refused) or wrong bytes: only then does the cache answer
    /// in its place.
    static func isOutage(_ error: any Error) -> Bool {
        guard let error = error as? FerryError else { return false }
        switch error.code {
        case .upstreamUnreachable, .upstreamError, .tooManyRequests: return true
        default: return false
        }
    }

    /// While the upstream is down: the digest `tag` last named, if its manifest is cached and
    /// confirmed for this repository (a restart in between included), as the CNCF registry's
    /// pull-through cache answers; nil otherwise.
    private func staleTag(_ upstream: ImageReference, tag: String, error: any Error) async throws -> Digest? {
        guard configuration.cache else { return nil }
        // The database first: another replica may have been told the tag is gone (no row). Of
        // a row and this process's own resolution, the later one (its write may have failed).
        let mine = tags.withLock { $0["\(upstream.name):\(tag)"] }
        let remembered: Digest?
        do {
            if let row = try await database.lastTag(tag, repository: upstream.name) {
                remembered = mine.map { $0.wall > row.at ? $0.digest : row.digest } ?? row.digest
            } else {
                remembered = nil
            }
        } catch {
            remembered = mine?.digest
        }
        guard let digest = remembered,
            try await staleManifest(upstream, digest: digest) != nil
        else { return nil }
        stale(upstream, "tag \(tag)", error: error)
        return digest
    }

    /// While the upstream is down: a manifest in the store that this repository was confirmed to
    /// hold (by this process or, recorded, by an earlier one); nil otherwise.
    private func staleManifest(_ upstream: ImageReference, digest: Digest) async throws -> Manifest? {
        guard configuration.cache, store.contains(digest), let mediaType = try await database.manifestMediaType(digest),
            try await isConfirmed(upstream, digest)
        else { return nil }
        return Manifest(bytes: try await store.bytes(of: digest, limit: 4 * 1024 * 1024), digest: digest, mediaType: mediaType)
    }

    /// For an answer in the upstream's place: the database first (another replica may have been
    /// told the content is gone), this process's memory if the database cannot answer.
    private func isConfirmed(_ upstream: ImageReference, _ digest: Digest) async throws -> Bool {
        do {
            return try await database.isConfirmed(digest, repository: upstream.name)
        } catch {
            return confirmed.withLock { $0.contains("\(digest) \(upstream.name)") }
        }
    }

    /// The error of the upstream repository's last failure to answer, if within the outage hold
    /// and it has not answered since.
    private func recentOutage(_ upstream: ImageReference) -> (any Error)? {
        guard configuration.cache, let last = outages.withLock({ $0[upstream.name] }), ContinuousClock.now - last.at < configuration.outageHold
        else { return nil }
        return last.error
    }

    private func noteOutage(_ upstream: ImageReference, _ error: any Error) {
        let failure = (error as? FerryError) ?? FerryError(.upstreamUnreachable, "\(error)")
        let now = ContinuousClock.now
        outages.withLock { outages in
            if outages.count >= 4096 { outages = outages.filter { now - $0.value.at < configuration.outageHold } }
            outages[upstream.name] = (now, failure)
        }
    }

    /// The upstream repository answered: its outage (if any) is over; with a tag, what it names
    /// now is remembered, and recorded when it changed.
    private func answered(_ upstream: ImageReference, tag: String? = nil, digest: Digest? = nil, at now: ContinuousClock.Instant = .now) async {
        outages.withLock { _ = $0.removeValue(forKey: upstream.name) }
        guard let tag, let digest else { return }
        await bookkeeping("record what a tag names", upstream) { try await $0.recordTag(tag, repository: upstream.name, digest: digest, at: Date()) }
        tags.withLock { $0["\(upstream.name):\(tag)"] = (digest, now, Date()) }
    }

    /// The upstream answered (not an outage: its hold ends); if it does not have `tag` (or the
    /// repository), what was recorded for it must not stand in for it in a later outage.
    private func forget(_ upstream: ImageReference, tag: String, after error: any Error) async {
        outages.withLock { _ = $0.removeValue(forKey: upstream.name) }
        guard let code = (error as? FerryError)?.code else { return }
        switch code {
        case .manifestUnknown:
            tags.withLock { _ = $0.removeValue(forKey: "\(upstream.name):\(tag)") }
            await bookkeeping("forget a tag", upstream) { try await $0.forgetTag(tag, repository: upstream.name) }
        case .nameUnknown:
            await forgetRepository(upstream)
        default:
            // A refusal (401, 403) may be the vendor's credentials or a policy of the moment:
            // nothing recorded is dropped for it (and it is not an outage: the cache does not answer).
            break
        }
    }

    /// The upstream answered that it does not have `digest` (or the repository): not confirmed any more.
    private func forget(_ upstream: ImageReference, digest: Digest, after error: any Error) async {
        outages.withLock { _ = $0.removeValue(forKey: upstream.name) }
        guard let code = (error as? FerryError)?.code else { return }
        switch code {
        case .manifestUnknown, .blobUnknown:
            _ = confirmed.withLock { $0.remove("\(digest) \(upstream.name)") }
            await bookkeeping("forget a confirmation", upstream) { try await $0.unconfirm(digest, repository: upstream.name) }
        case .nameUnknown:
            await forgetRepository(upstream)
        default:
            break
        }
    }

    private func forgetRepository(_ upstream: ImageReference) async {
        let prefix = "\(upstream.name):"
        tags.withLock { tags in tags = tags.filter { !$0.key.hasPrefix(prefix) } }
        confirmed.withLock { pairs in pairs = pairs.filter { !$0.hasSuffix(" \(upstream.name)") } }
        await bookkeeping("forget a repository", upstream) { try await $0.forgetRepository(upstream.name) }
    }

    /// A write of the cache's records: logged, never failing the request that made it.
    private func bookkeeping(_ what: String, _ upstream: ImageReference, _ write: (any ProxyStore) async throws -> Void) async {
        guard configuration.cache else { return }
        do {
            try await write(database)
        } catch {
            logger.warning("cannot \(what) in the proxy database", metadata: ["repository": "\(upstream.name)", "error": "\(error)"])
        }
    }

    /// Counts an answer from the cache in the upstream's place, and logs it (once a minute per item).
    private func stale(_ upstream: ImageReference, _ what: String, error: any Error) {
        Counter(label: "ferry_proxy_stale_answers_total").increment()
        let key = "\(upstream.name) \(what)"
        let now = ContinuousClock.now
        let log = staleLogged.withLock { logged in
            guard logged[key].map({ now - $0 >= .seconds(60) }) ?? true else { return false }
            if logged.count >= 4096 { logged = logged.filter { now - $0.value < .seconds(60) } }
            logged[key] = now
            return true
        }
        if log {
            logger.warning(
                "the upstream is not answering: serving what the cache holds for it",
                metadata: ["repository": "\(upstream.name)", "item": "\(what)", "error": "\(error)"])
        }
    }

    /// Records that this upstream repository holds `digest`: in the database (with the cache),
    /// then in memory, so that a failed write is tried again at the next confirmation.
    private func confirm(_ upstream: ImageReference, _ digest: Digest) async {
        let pair = "\(digest) \(upstream.name)"
        guard !confirmed.withLock({ $0.contains(pair) }) else { return }
        if configuration.cache {
            do {
                try await database.confirm(digest, repository: upstream.name)
            } catch {
                logger.warning("cannot record a confirmation", metadata: ["repository": "\(upstream.name)", "digest": "\(digest)", "error": "\(error)"])
                return
            }
        }
        _ = confirmed.withLock { $0.insert(pair) }
    }

    /// A manifest by tag, for a `GET`: by the digest the tag named within the tag TTL; else, if
    /// the tag's last digest is cached for this repository, a `HEAD` says whether it still holds
    /// (Docker Hub does not count it as a pull); else one `GET` by tag (its digest computed over
    /// the bytes, checked against `Docker-Content-Digest`) rather than a `HEAD` and a `GET` by digest.
    func manifest(_ upstream: ImageReference, tag: String) async throws -> Manifest {
        let key = "\(upstream.name):\(tag)"
        let now = ContinuousClock.now
        if let hit = tags.withLock({ $0[key] }) {
            if now - hit.at < configuration.tagTTL || isCached(upstream, hit.digest) {
                return try await manifest(upstream, digest: try await resolve(upstream, tag: tag))
            }
        }
        let reference = ImageReference(registry: upstream.registry, repository: upstream.repository, tag: tag)
        if let down = recentOutage(upstream), let digest = try await staleTag(upstream, tag: tag, error: down),
            let cached = try await staleManifest(upstream, digest: digest)
        {
            return cached
        }
        let fetched: FetchedManifest
        do {
            fetched = try await manifestFlights.run(key) { [client, logger] in try await client.fetchManifest(reference, logger: logger) }
        } catch where Self.isOutage(error) {
            noteOutage(upstream, error)
            guard let digest = try await staleTag(upstream, tag: tag, error: error), let cached = try await staleManifest(upstream, digest: digest)
            else { throw error }
            return cached
        } catch {
            await forget(upstream, tag: tag, after: error)
            throw error
        }
        await answered(upstream, tag: tag, digest: fetched.digest, at: now)
        try await keep(fetched, upstream)
        return Manifest(bytes: fetched.bytes, digest: fetched.digest, mediaType: fetched.mediaType)
    }

    /// Whether a manifest is served from the store for this upstream repository.
    private func isCached(_ upstream: ImageReference, _ digest: Digest) -> Bool {
        configuration.cache && confirmed.withLock { $0.contains("\(digest) \(upstream.name)") } && store.contains(digest)
    }

    /// A manifest by digest: from the store if this upstream repository is known to hold it,
    /// else fetched (and verified by the registry client) and kept.
    func manifest(_ upstream: ImageReference, digest: Digest) async throws -> Manifest {
        let pair = "\(digest) \(upstream.name)"
        if isCached(upstream, digest), let mediaType = try await database.manifestMediaType(digest) {
            return Manifest(bytes: try await store.bytes(of: digest, limit: 4 * 1024 * 1024), digest: digest, mediaType: mediaType)
        }
        let reference = ImageReference(registry: upstream.registry, repository: upstream.repository, digest: digest)
        if let down = recentOutage(upstream), let cached = try await staleManifest(upstream, digest: digest) {
            stale(upstream, "\(digest)", error: down)
            return cached
        }
        let fetched: FetchedManifest
        do {
            fetched = try await manifestFlights.run(pair) { [client, logger] in try await client.fetchManifest(reference, logger: logger) }
        } catch where Self.isOutage(error) {
            noteOutage(upstream, error)
            guard let cached = try await staleManifest(upstream, digest: digest) else { throw error }
            stale(upstream, "\(digest)", error: error)
            return cached
        } catch {
            await forget(upstream, digest: digest, after: error)
            throw error
        }
        await answered(upstream)
        try await keep(fetched, upstream)
        return Manifest(bytes: fetched.bytes, digest: digest, mediaType: fetched.mediaType)
    }

    /// Records a fetched manifest (with the cache) as this upstream repository's.
    private func keep(_ fetched: FetchedManifest, _ upstream: ImageReference) async throws {
        guard configuration.cache else { return }
        let digest = fetched.digest
        do {
            try await database.recordManifest(digest, mediaType: fetched.mediaType, repository: upstream.name)
        } catch {
            // Not kept: served this once, fetched again next time.
            logger.warning("cannot record a manifest in the proxy database", metadata: ["digest": "\(digest)", "error": "\(error)"])
            return
        }
        await confirm(upstream, digest)
        // Kept in the store after the answer, as a blob's commit follows its last byte: the
        // bytes are verified already, and until they are stored a request fetches them again.
        Task { [manifestWrites, store, logger] in
            do {
                try await manifestWrites.run(digest) {
                    if !store.contains(digest) { try await store.write(fetched.bytes, as: digest) }
                }
            } catch {
                logger.warning("cannot keep a manifest in the store", metadata: ["digest": "\(digest)", "error": "\(error)"])
            }
        }
    }

    /// A blob's size, confirming that this upstream repository holds it: one upstream `HEAD` per
    /// digest and repository (per process), shared by the requests that ask at once; with the
    /// cache, later requests are answered from the store, or from the size the upstream gave
    /// (``confirmedSizes``).
    func blobSize(_ upstream: ImageReference, digest: Digest) async throws -> Int64 {
        let pair = "\(digest) \(upstream.name)"
        if confirmed.withLock({ $0.contains(pair) }), let size = store.size(of: digest) ?? recentSize(of: digest) { return size }
        if let down = recentOutage(upstream), let size = try await heldSize(upstream, digest: digest, error: down) { return size }
        return try await sizeFlights.run(pair) { [self] in
            let size: Int64
            do {
                size = try await client.blobSize(repository: upstream, digest: digest, logger: logger)
                // Checked before the size answers anything: a 200 with no body cannot be cut.
                try Self.checkEmpty(digest, size: size)
            } catch where Self.isOutage(error) {
                noteOutage(upstream, error)
                guard let size = try await heldSize(upstream, digest: digest, error: error) else { throw error }
                return size
            } catch {
                await forget(upstream, digest: digest, after: error)
                throw error
            }
            await answered(upstream)
            await confirm(upstream, digest)
            if configuration.cache {
                confirmedSizes.withLock { sizes in
                    if sizes.count >= 65_536 { sizes.removeAll() }
                    sizes[digest] = (size, .now)
                }
            }
            return size
        }
    }

    /// The size the upstream gave for `digest`, while the blob arrives or within the tag TTL.
    private func recentSize(of digest: Digest) -> Int64? {
        guard configuration.cache, let given = confirmedSizes.withLock({ $0[digest] }) else { return nil }
        if ContinuousClock.now - given.at < configuration.tagTTL { return given.size }
        if case .growing = store.availability(of: digest) { return given.size }
        return nil
    }

    /// The size of a blob the cache holds for this repository, answered in the upstream's place.
    private func heldSize(_ upstream: ImageReference, digest: Digest, error: any Error) async throws -> Int64? {
        guard configuration.cache, let held = store.size(of: digest), try await database.isConfirmed(digest, repository: upstream.name) else { return nil }
        stale(upstream, "\(digest)", error: error)
        return held
    }

    /// Streams `range` of a blob of `size` bytes to `consume`: from the store, or while it arrives
    /// from upstream into the store (one download per digest, however many ask). The blob's last
    /// byte is sent only once the whole blob is verified: on a mismatch the stream is cut, the
    /// partial discarded, nothing cached, and the mismatch logged and counted once per download
    /// (`app`'s). A range ending before the blob's end is sent as it arrives (its client, such as a
    /// pieced download, verifies the whole blob it assembles; holding it for the whole blob
    /// would stall such a client). The store's commit (fsync, rename) follows the last byte
    /// instead of delaying it; until it is done the blob is not in the store, and a crash leaves
    /// only a partial to resume. With `--no-cache`, ``streamUncached(_:digest:size:range:app:_:)``.
    func streamBlob(
        _ upstream: ImageReference, digest: Digest, size: Int64, range: Range<Int64>, app: String, _ consume: (ByteBuffer) async throws -> Void
    ) async throws {
        try Self.checkEmpty(digest, size: size)
        guard configuration.cache else { return try await streamUncached(upstream, digest: digest, size: size, range: range, app: app, consume) }
        if store.contains(digest) { return try await store.read(digest, range: range, consume) }
        let descriptor = Descriptor(mediaType: "application/octet-stream", digest: digest, size: size)
        let finished = Latch()
        // Unstructured, so that a response whose bytes are all sent ends without waiting for the
        // commit; a response that fails (the customer left) cancels it, as a waiter of the flight.
        let download = Task { [self] in
            defer { finished.set() }
            try await blobFlights.run(digest) { [self] in
                if store.contains(digest) { return }
                do {
                    try await store.withIngest(digest, expectedSize: size) { ingest in
                        try await client.downloadBlob(repository: upstream, descriptor: descriptor, into: IngestSink(ingest: ingest), logger: logger)
                        try await ingest.verify()  // readers may send the last byte from here on
                        try await ingest.commit()
                    }
                } catch {
                    await downloadFailed(upstream, digest: digest, app: app, error)
                    throw error
                }
            }
        }
        do {
            try await withTaskCancellationHandler {
                try await follow(digest, range: range, download: download, finished: finished, consume)
            } onCancel: {
                download.cancel()
            }
        } catch {
            download.cancel()
            throw error
        }
    }

    /// A blob's download from upstream failed: its size no longer answers for it (the next
    /// request asks the upstream again, so that a blob gone upstream since is a 404 and an
    /// upstream that is down an outage, not a 200 cut after the retries); a blob gone drops its
    /// confirmation, an outage is noted, a mismatch logged and counted.
    private func downloadFailed(_ upstream: ImageReference, digest: Digest, app: String, _ error: any Error) async {
        // Every customer left: nothing is learnt of the upstream.
        guard !(error is CancellationError) else { return }
        _ = confirmedSizes.withLock { $0.removeValue(forKey: digest) }
        if BlobStore.bytesAreBad(error) {
            Self.countMismatch(error, digest: digest, app: app, logger: logger)
        } else if Self.isOutage(error) {
            noteOutage(upstream, error)
        } else if let error = error as? FerryError, [.blobUnknown, .nameUnknown].contains(error.code) {
            await forget(upstream, digest: digest, after: error)
        }
    }

    /// A mismatch of a blob downloaded from upstream: logged and counted.
    static func countMismatch(_ error: any Error, digest: Digest, app: String, logger: Logger) {
        Counter(label: "ferry_proxy_digest_mismatches_total", dimensions: [("app", app)]).increment()
        logger.warning("blob from upstream failed verification; discarded", metadata: ["digest": "\(digest)", "app": "\(app)", "error": "\(error)"])
    }

    /// An empty blob is sent before anything could be verified: only the empty blob's digest is one.
    static func checkEmpty(_ digest: Digest, size: Int64) throws(FerryError) {
        guard size == 0 else { return }
        guard Digester(digest.algorithm).finalize() == digest else {
            throw FerryError(.digestMismatch, "upstream says blob \(digest) is empty, which is not that digest's content")
        }
    }

    /// Sends `range` of a blob that `download` brings into the store: cut-through while it grows
    /// (every byte but the last as it lands, the last once verified), else from the store once
    /// the download's outcome is known.
    private func follow(
        _ digest: Digest, range: Range<Int64>, download: Task<Void, any Error>, finished: Latch, _ consume: (ByteBuffer) async throws -> Void
    ) async throws {
        var sent = range.lowerBound
        var followed = false
        // The ingest and its epoch the bytes sent came from: if it started over (the upstream
        // ignored Range), those bytes were discarded and the new ones are not compared with them.
        var sentFrom: (progress: IngestProgress, epoch: Int)?
        func checkNotRestarted() throws {
            if let sentFrom, sentFrom.progress.snapshot.epoch != sentFrom.epoch {
                throw FerryError(.upstreamError, "blob \(digest) started over upstream after part of it was sent; retry")
            }
        }
        while sent < range.upperBound {
            switch store.availability(of: digest) {
            case .complete:
                try checkNotRestarted()
                try await store.read(digest, range: sent..<range.upperBound, consume)
                return
            case .growing(let progress) where !followed:
                var consumerFailed = false
                do {
                    try await store.readGrowing(progress, range: sent..<range.upperBound, holdingBackUntilVerified: true) { chunk in
                        if sentFrom == nil { sentFrom = (progress, progress.snapshot.epoch) }
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
                    // The ingest ended under this reader (failed, or started over): the download's
                    // outcome decides, below; a commit is read from the store.
                    logger.debug("cut-through read ended", metadata: ["digest": "\(digest)", "at": "\(sent)", "reason": "\(error)"])
                    followed = true
                    try checkNotRestarted()
                }
            case .growing, .absent:
                // The download has not opened its ingest yet, or this reader is done following it.
                guard followed || finished.isSet else {
                    // The download opens it within a millisecond or two: poll at that pace.
                    try await Task.sleep(for: .milliseconds(1))
                    continue
                }
                try await download.value
                guard store.contains(digest) else {
                    throw FerryError(.upstreamError, "blob \(digest) was fetched but is not in the store")
                }
            }
        }
    }
}
