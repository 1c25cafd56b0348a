import FerryCore
import FerryDocker
import FerryMesh
import FerryRegistry
import FerryState
import FerryStore
import FerryTransfer
import Foundation
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

/// Puts one image on this node: check the engine, pull the blobs, verify them, wait for a load
/// slot, load, confirm. Failures the leader or the network cause are waited out and retried;
/// failures of the image or the engine are reported to the leader as the target's reason.
struct TargetRunner: Sendable {
    let follower: FollowerService
    let transfers: TransferClient
    let item: WorkItem

    /// The leader moved the target on (finished, or it belongs to someone else): stop quietly.
    struct Superseded: Error {}

    private var logger: Logger {
        var logger = follower.logger
        logger[metadataKey: "target"] = "\(item.targetID)"
        logger[metadataKey: "image"] = "\(item.reference)"
        return logger
    }

    func run() async {
        follower.store.lease(leaseName, adding: [item.manifestDigest])
        defer { follower.store.releaseLease(leaseName) }
        var attempt = 0
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do {
                try await self.attempt()
                return
            } catch is Superseded {
                logger.info("target finished elsewhere; stopping")
                return
            } catch {
                switch FailureClass(error) {
                case .cancelled:
                    return
                case .transient:
                    // Waited out for as long as the install's deadline allows: the leader ends the target.
                    attempt += 1
                    let delay = Self.retry.delay(beforeRetry: min(attempt, 8), random: Double.random(in: 0...1)) ?? .seconds(10)
                    logger.warning("install step failed; retrying", metadata: ["error": "\(Self.message(error))", "delay": "\(delay)"])
                    try? await Task.sleep(for: delay)
                case .permanent:
                    let failure = (error as? FerryError) ?? FerryError(.internal, Self.message(error))
                    logger.warning("install failed on this node", metadata: ["code": "\(failure.code)", "error": "\(failure.message)"])
                    try? await report(TargetReport(state: .failed, error: ErrorEntry(failure)))
                    return
                }
            }
        }
    }

    /// Backoff between attempts of a target: 0.5 s doubling to 10 s, for as long as it takes.
    static let retry = RetryPolicy(maxAttempts: .max, baseDelay: .milliseconds(500), maxDelay: .seconds(10))

    static func message(_ error: any Error) -> String {
        if let error = error as? FerryError { return error.message }
        return TransportProblem(error)?.description ?? "\(error)"
    }

    private func attempt() async throws {
        let manifest = try await manifestAndConfig()
        let image = LoadableImage(
            reference: Self.dockerReference(item.reference), manifest: manifest.manifest, manifestBytes: manifest.bytes,
            manifestDigest: item.manifestDigest, config: manifest.config)
        // Idempotent: an engine that already holds the image only needs its tag checked.
        if try await follower.docker.inspectImage(image.imageID.description) != nil {
            let outcome = try await follower.docker.install(image, reader: reader, logger: logger)
            await recordHeld(manifest.manifest, bytes: manifest.bytes, mediaType: manifest.mediaType)
            try await report(TargetReport(state: .done, note: outcome == .alreadyPresent ? "already in the engine" : nil))
            return
        }
        let blobs = manifest.manifest.blobs
        let total = blobs.reduce(0) { $0 + $1.size }
        try await report(TargetReport(state: .transferring, bytesDone: 0, bytesTotal: total, starting: true))
        try await transfer(blobs, total: total)
        try await report(TargetReport(state: .ready, bytesDone: total, bytesTotal: total))
        while !(try await follower.mesh.requestLoad(target: item.targetID, wait: .seconds(20)).granted) {
            try Task.checkCancellation()
        }
        logger.notice("loading into the Docker engine")
        let started = ContinuousClock.now
        let outcome = try await follower.docker.install(image, reader: reader, logger: logger)
        FerryMetrics.recordLoad(.now - started)
        Failpoint.followerLoaded.reach()
        var note = "loaded"
        if case .loaded(let omitted, let fallback) = outcome, omitted > 0 {
            note = fallback ? "loaded (full archive after a partial one failed)" : "loaded (\(omitted) layers already in the engine)"
        }
        await recordHeld(manifest.manifest, bytes: manifest.bytes, mediaType: manifest.mediaType)
        try await report(TargetReport(state: .done, bytesDone: total, bytesTotal: total, note: note))
        logger.notice("image installed", metadata: ["note": "\(note)"])
    }

    private var reader: DockerArchive.BlobReader {
        let store = follower.store
        guard Failpoint.followerLoadStreaming.isArmed else { return { digest, consume in try await store.read(digest, consume) } }
        return { digest, consume in
            try await store.read(digest) { chunk in
                try await consume(chunk)
                Failpoint.followerLoadStreaming.reach()
            }
        }
    }

    /// The manifest (kept in the database and store), its media type, and the config bytes.
    private func manifestAndConfig() async throws -> (manifest: ImageManifest, bytes: [UInt8], mediaType: String, config: [UInt8]) {
        let bytes: [UInt8]
        if let saved = try await follower.database.manifest(item.manifestDigest) {
            bytes = Array(saved.bytes)
        } else {
            let fetched = try await transfers.client.fetchManifest(
                transfers.repository(item).with(digest: item.manifestDigest), logger: logger)
            bytes = fetched.bytes
            try await follower.database.saveManifest(ManifestRecord(digest: fetched.digest, mediaType: fetched.mediaType, bytes: fetched.bytes))
        }
        let parsed = try ParsedManifest.decode(bytes, contentType: nil)
        guard case .image(let manifest, _) = parsed else {
            throw FerryError(.manifestInvalid, "\(item.manifestDigest) is not an image manifest")
        }
        follower.store.lease(leaseName, adding: manifest.blobs.map(\.digest))
        try await ensure(manifest.config)
        return (manifest, bytes, parsed.mediaType, try await follower.store.bytes(of: manifest.config.digest))
    }

    /// Pulls every blob into the store (each verified on commit), reporting progress, and
    /// meanwhile re-verifies the blobs that were already there: one corrupted on disk since it was
    /// committed is deleted and fetched again, never loaded. A blob this transfer commits was
    /// hashed as it was written, so it is not read back.
    private func transfer(_ blobs: [Descriptor], total: Int64) async throws {
        let store = follower.store
        let board = transfers.fetcher.progress
        let done: @Sendable () -> Int64 = {
            blobs.reduce(0) { sum, blob in sum + (board.value(blob.digest) ?? (store.size(of: blob.digest) == blob.size ? blob.size : 0)) }
        }
        let held = Set(blobs.filter { store.size(of: $0.digest) == $0.size }.map(\.digest))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                // Progress to the leader once a second while the transfer runs.
                while !Task.isCancelled {
                    try await Task.sleep(for: .seconds(1))
                    do {
                        try await report(TargetReport(state: .transferring, bytesDone: done(), bytesTotal: total))
                    } catch is Superseded {
                        // The leader finished the target (its image failed, a deadline): stop pulling.
                        throw Superseded()
                    } catch {}
                }
            }
            try await withThrowingTaskGroup(of: Void.self) { downloads in
                for blob in blobs {
                    downloads.addTask { held.contains(blob.digest) ? try await reverify(blob) : try await ensure(blob) }
                }
                for try await _ in downloads {}  // the first failure ends the transfer at once
            }
            group.cancelAll()
        }
    }

    /// Re-hashes a blob that was in the store before this transfer; fetches it again if corrupt.
    private func reverify(_ blob: Descriptor) async throws {
        guard try await !follower.store.verify(blob.digest) else { return }
        logger.warning("blob corrupt in the store; fetching it again", metadata: ["digest": "\(blob.digest)"])
        try follower.store.delete(blob.digest)
        try await ensure(blob)
    }

    /// Makes sure the store holds `blob`, downloading (or resuming) it from the leader; a blob
    /// another image is already pulling is waited for, not fetched twice.
    private func ensure(_ blob: Descriptor) async throws {
        if follower.store.size(of: blob.digest) == blob.size { return }
        try await transfers.fetcher.ensure(blob, repository: item.repository)
    }

    /// Backoff between attempts of a report: 0.2 s doubling to 5 s, until the leader answers.
    static let reportRetry = RetryPolicy(maxAttempts: .max, baseDelay: .milliseconds(200), maxDelay: .seconds(5))

    /// Sends a report, waiting out a leader that is away; a refused transition means the
    /// target was finished or reassigned.
    private func report(_ report: TargetReport) async throws {
        var attempt = 0
        while true {
            do {
                try await follower.mesh.report(target: item.targetID, report)
                return
            } catch let error as FerryError where error.code == .conflict || error.code == .notFound {
                throw Superseded()
            } catch let error as FerryError where error.code == .upstreamUnreachable || error.code == .upstreamError {
                if report.state == .transferring && report.bytesDone != 0 { return }  // progress: the next one will do
                try Task.checkCancellation()
                attempt += 1
                try await Task.sleep(for: Self.reportRetry.delay(beforeRetry: min(attempt, 8), random: Double.random(in: 0...1)) ?? .seconds(5))
            }
        }
    }

    /// The tag to give the image in the engine: the reference without a digest, or nil.
    static func dockerReference(_ reference: String) -> String? {
        guard let parsed = try? ImageReference(parsing: reference), let tag = parsed.tag, parsed.digest == nil else { return nil }
        return "\(parsed.registry)/\(parsed.repository):\(tag)"
    }
}
