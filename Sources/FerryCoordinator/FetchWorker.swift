import FerryCore
import FerryDiagnostics
import FerryPolicy
import FerryRegistry
import FerryState
import FerryStore
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// The leader's fetch worker: a durable queue of images to fetch from upstream (each a row in
/// SQLite before it is queued), one task per image resolving it and fetching its blobs through
/// ``BlobFetcher``, and the recovery that requeues what a restart interrupted.
final class FetchWorker: Sendable {
    let database: FerryDatabase
    let store: BlobStore
    let client: RegistryClient
    let fetcher: BlobFetcher
    let installs: InstallCoordinator
    let logger: Logger
    private let queue: AsyncStream<Int64>
    private let continuation: AsyncStream<Int64>.Continuation
    private let running = Mutex<Set<Int64>>([])

    init(
        queue: (AsyncStream<Int64>, AsyncStream<Int64>.Continuation), database: FerryDatabase, store: BlobStore, client: RegistryClient,
        fetcher: BlobFetcher, installs: InstallCoordinator, logger: Logger
    ) {
        (self.queue, self.continuation) = queue
        self.database = database
        self.store = store
        self.client = client
        self.fetcher = fetcher
        self.installs = installs
        self.logger = logger
    }

    /// Queues an image (its row exists).
    func enqueue(_ id: Int64) { continuation.yield(id) }

    /// Brings the database in line with the store after a restart, then queues every unfinished
    /// image. An image whose blobs the store lacks (a backup restored without its store, a lost
    /// file) is fetched again at once only if a running install or rollout needs it; any other is
    /// released, to be fetched again when an install asks for it.
    func recover() async throws {
        let missing = try await database.presentBlobs().filter { store.size(of: $0.digest) != $0.size }
        if !missing.isEmpty {
            logger.warning("blobs recorded present are missing from the store", metadata: ["count": "\(missing.count)"])
        }
        let outcome = try await database.releaseImages(missing: missing.map(\.digest))
        for image in outcome.released {
            logger.notice(
                "image no longer held (blobs missing from the store); it is fetched again when an install asks for it",
                metadata: ["image": "\(image.reference)", "platform": "\(image.platform)"])
        }
        for image in outcome.refetch {
            logger.notice("image in use lacks blobs in the store; fetching it again", metadata: ["image": "\(image.reference)"])
            _ = try await database.requestImage(
                try ImageReference(parsing: image.reference), platform: try Platform(parsing: image.platform), pull: image.pullPolicy)
        }
        let partials = store.partialIngests()
        if !partials.isEmpty {
            logger.info("found partial downloads to resume", metadata: ["count": "\(partials.count)"])
        }
        for image in try await database.unfinishedImages() {
            logger.info("resuming unfinished fetch", metadata: ["image": "\(image.reference)", "state": "\(image.state.rawValue)"])
            enqueue(image.id!)
        }
    }

    /// Runs the queue until graceful shutdown: one child task per image.
    func run() async throws {
        try await withThrowingDiscardingTaskGroup { group in
            for await id in queue.cancelOnGracefulShutdown() {
                let claimed = running.withLock { $0.insert(id).inserted }
                guard claimed else { continue }
                group.addTask {
                    defer { _ = self.running.withLock { $0.remove(id) } }
                    // An image asked for again while its last run was still finishing blobs
                    // (after it had failed) runs again, instead of waiting for a restart; after a
                    // pause that grows, so that a run whose end the database could not record
                    // never turns into a loop of requests upstream.
                    var runs = 0
                    while !Task.isCancelled {
                        await self.fetchImage(id: id)
                        guard let image = try? await self.database.image(id: id), image.state == .pending else { break }
                        runs += 1
                        try? await Task.sleep(for: Self.rerun.delay(beforeRetry: runs, random: Double.random(in: 0...1)) ?? .seconds(60))
                    }
                }
            }
            group.cancelAll()
        }
    }


    /// Resolves and fetches one image; failures are recorded on the image, never thrown.
    func fetchImage(id: Int64) async {
        guard let image = try? await database.image(id: id), !image.state.isFinished else { return }
        var logger = self.logger
        logger[metadataKey: "image"] = "\(image.reference)"
        do {
            let reference = try ImageReference(parsing: image.reference)
            let platform = try Platform(parsing: image.platform)
            let resolved = try await resolve(image, reference: reference, platform: platform, logger: logger)
            try await database.recordResolution(
                imageID: id,
                ImageResolution(
                    topDigest: resolved.image.top.digest, manifestDigest: resolved.image.manifestDigest, platform: resolved.image.platform,
                    manifests: resolved.image.chain.map { ManifestRecord(digest: $0.digest, mediaType: $0.mediaType, bytes: $0.bytes) },
                    blobs: resolved.image.blobs, warning: resolved.warning))
            let upstream = resolved.upstream
            let resolvedImage = resolved.image
            logger.info(
                "resolved image",
                metadata: ["manifest": "\(resolvedImage.manifestDigest)", "blobs": "\(resolvedImage.blobs.count)", "upstream": "\(upstream)"])
            // The config first, on its own: every node's target starts with it, before any layer,
            // and a large layer takes every download slot (--serial-download-size), so a config
            // queued behind one held every node back until that layer was whole (seen in CI: the
            // follower's first byte 6 s after the resolution). A single-platform image says its
            // platform in its config only: a wrong one fails before any layer is fetched.
            let config = resolvedImage.manifest.config
            try await fetcher.ensure(config, from: reference)
            if resolvedImage.platform == nil {
                try await checkSinglePlatform(resolvedImage, wanted: platform, reference: reference)
            }
            // The first blob to fail for good fails the image at once. Its other blobs already on
            // their way are finished (each fetched once, kept for a retry) rather than thrown away;
            // a shutdown cancels them, and they resume at the next start.
            let failure = await withTaskGroup(of: (any Error)?.self) { group in
                for descriptor in resolvedImage.blobs where descriptor.digest != config.digest {
                    group.addTask {
                        do {
                            try await self.fetcher.ensure(descriptor, from: reference)
                            return nil
                        } catch {
                            return error
                        }
                    }
                }
                var first: (any Error)?
                for await case let error? in group where first == nil && !(error is CancellationError) {
                    first = error
                    await recordFailure(error, imageID: id, logger: logger)
                }
                return first
            }
            if failure != nil { return }
            try Task.checkCancellation()
            if try await database.markImagePresent(imageID: id, resolvedUpstream: upstream) {
                logger.notice("image fetched", metadata: ["size": "\(resolvedImage.blobs.reduce(0) { $0 + $1.size })"])
            } else {
                throw FerryError(.internal, "image \(reference) finished fetching but not every blob is present")
            }
        } catch is CancellationError {
            logger.info("fetch interrupted; it resumes at the next start")
        } catch {
            await recordFailure(error, imageID: id, logger: logger)
        }
    }

    /// A single-platform image (no index) says its platform in its config only (stored by
    /// now): an image that cannot run on `wanted` is refused as containerd refuses it
    /// (`PlatformMatcher`: amd64 runs 386, arm64 runs arm…), instead of being held under the
    /// platform asked for. A config Ferry cannot read is taken as it is.
    private func checkSinglePlatform(_ image: ResolvedImage, wanted: Platform, reference: ImageReference) async throws {
        let config = image.manifest.config
        guard let parsed = try? JSONDecoder().decode(ImageConfig.self, from: Data(try await store.bytes(of: config.digest, limit: 4 * 1024 * 1024)))
        else { return }
        let actual = parsed.platform
        guard PlatformMatcher(wanted).rank(actual) != nil else {
            throw FerryError(
                .noMatchingPlatform,
                "\(reference) is an image for \(actual) only, not for \(wanted.normalized()) (it has no index of platforms): choose --platform \(actual), or an image built for \(wanted.normalized())")
        }
    }

    /// Resolves `reference` under the image's pull policy (``TagResolution``): upstream, or the
    /// digest the leader holds. `upstream` says whether the upstream answered; `warning`, whether
    /// the held digest replaced an answer the upstream could not give.
    private func resolve(
        _ image: ImageRecord, reference: ImageReference, platform: Platform, logger: Logger
    ) async throws -> (image: ResolvedImage, upstream: Bool, warning: String?) {
        let database = self.database
        let cached: @Sendable (Digest) async -> FetchedManifest? = { digest in
            guard let record = try? await database.manifest(digest),
                let parsed = try? ParsedManifest.decode(record.bytes, contentType: record.mediaType)
            else { return nil }
            return FetchedManifest(bytes: Array(record.bytes), digest: record.digest, parsed: parsed)
        }
        let heldDigest = reference.digest ?? image.servedDigest
        var held: TagResolution.Held?
        if let heldDigest, try await database.manifest(heldDigest) != nil {
            held = TagResolution.Held(digest: heldDigest, fetchedAt: image.fetchedAt)
        }
        let rules = TagResolution(policy: image.pullPolicy, reference: reference, held: held)
        let resolver = ImageResolver(client: client)
        var step = rules.first
        while true {
            switch step {
            case .useHeld(let digest):
                logger.info("using the held digest without asking upstream", metadata: ["digest": "\(digest)", "pull": "\(rules.policy)"])
                return (try await resolver.resolve(reference, platform: platform, held: digest, cached: cached, logger: logger), false, nil)
            case .fallBack(let digest, let warning):
                logger.warning("upstream did not answer; using the held digest", metadata: ["digest": "\(digest)", "warning": "\(warning)"])
                FerryMetrics.recordPullFallback()
                return (try await resolver.resolve(reference, platform: platform, held: digest, cached: cached, logger: logger), false, warning)
            case .fail(let error):
                throw error
            case .askUpstream:
                do {
                    return (try await resolver.resolve(reference, platform: platform, cached: cached, logger: logger), true, nil)
                } catch let error as FerryError {
                    step = rules.afterUpstreamFailure(error)
                }
            }
        }
    }

    /// The pause before an image runs again: 1 s, doubling to a minute.
    static var rerun: RetryPolicy { RetryPolicy(maxAttempts: .max, baseDelay: .seconds(1), maxDelay: .seconds(60)) }

    /// Records a failed fetch; a database that cannot write (a full disk) is retried with
    /// ``rerun``'s pauses until it can, so that the failure is never lost and its waiters learn of it.
    private func recordFailure(_ error: any Error, imageID id: Int64, logger: Logger) async {
        let failure = (error as? FerryError) ?? FerryError(database: error) ?? FerryError(.internal, "\(error)")
        logger.warning("image fetch failed", metadata: ["code": "\(failure.code)", "reason": "\(failure.message)"])
        var attempt = 0
        while true {
            do {
                try await installs.imageFailed(id, failure: failure)
                if attempt > 0 { logger.notice("recorded the failed fetch", metadata: ["attempts": "\(attempt + 1)"]) }
                break
            } catch is CancellationError {
                return  // shutting down: the fetch resumes at the next start
            } catch {
                attempt += 1
                if attempt == 1 {
                    let reason = FerryError(database: error)?.message ?? "\(error)"
                    logger.error("cannot record the failed fetch; retrying until the database can write", metadata: ["error": "\(reason)"])
                }
                guard (try? await Task.sleep(for: Self.rerun.delay(beforeRetry: attempt, random: Double.random(in: 0...1)) ?? .seconds(60))) != nil
                else { return }
            }
        }
    }
}
