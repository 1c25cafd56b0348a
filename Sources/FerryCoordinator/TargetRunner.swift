import FerryCore
import FerryDiagnostics
import FerryDocker
import FerryMesh
import FerryPolicy
import FerryTransfer
import Foundation
import Logging
import ServiceLifecycle

/// Puts one image on this node: check the engine, pull the blobs, verify them, wait for a load
/// slot, load, confirm. Failures the leader or the network cause are waited out and retried;
/// failures of the image or the engine are reported to the leader as the target's reason
/// (``TargetRetry``). When the leader says the target is over (finished, failed by a deadline,
/// reassigned), the runner stops at once and its downloads stop waiting.
struct TargetRunner<Environment: TargetEnvironment>: Sendable {
    let environment: Environment
    let item: WorkItem
    /// How often progress goes to the leader while blobs arrive.
    var progressInterval: Duration = .seconds(1)
    /// How long one load-slot request waits at the leader.
    var loadSlotWait: Duration = .seconds(20)

    /// Reports and load-slot requests for this target.
    var leader: TargetReporter<Environment> { TargetReporter(environment: environment, targetID: item.targetID, loadSlotWait: loadSlotWait) }

    var logger: Logger {
        var logger = environment.logger
        logger[metadataKey: "target"] = "\(item.targetID)"
        logger[metadataKey: "image"] = "\(item.reference)"
        return logger
    }

    /// The store lease that keeps the target's manifest and blobs from garbage collection from
    /// the moment the target starts until it ends (transfer, verification, Docker load).
    var leaseName: String { "install target \(item.targetID)" }

    func run() async {
        environment.lease(leaseName, adding: [item.manifestDigest])
        defer { environment.releaseLease(leaseName) }
        var retry = TargetRetry()
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do {
                try await attempt()
                return
            } catch {
                switch retry.failed(error, random: Double.random(in: 0...1)) {
                case .stop:
                    if error is TargetSuperseded { logger.info("target finished elsewhere; stopping") }
                    return
                case .retry(let delay):
                    logger.warning("install step failed; retrying", metadata: ["error": "\(TargetRetry.message(error))", "delay": "\(delay)"])
                    try? await Task.sleep(for: delay)
                case .fail(let failure):
                    logger.warning("install failed on this node", metadata: ["code": "\(failure.code)", "error": "\(failure.message)"])
                    try? await leader.report(TargetReport(state: .failed, error: ErrorEntry(failure)))
                    return
                }
            }
        }
    }

    private func attempt() async throws {
        let manifest = try await manifestAndConfig()
        let image = LoadableImage(
            reference: item.engineTag, manifest: manifest.manifest, manifestBytes: manifest.bytes,
            manifestDigest: item.manifestDigest, config: manifest.config)
        // Idempotent: an engine that already holds the image only needs its tag checked.
        if try await environment.engineHas(image) {
            let outcome = try await environment.install(image, logger: logger)
            await environment.recordHeld(item, manifest: manifest.manifest, bytes: manifest.bytes, mediaType: manifest.mediaType)
            let note = outcome == .alreadyPresent ? "already in the engine" : nil
            let reported = item.engineTag == nil ? Self.noted(note ?? "in the engine", untagged: true, image: manifest.manifest.config.digest) : note
            logger.notice("image installed", metadata: ["note": "\(reported ?? "tagged in the engine")"])
            try await leader.report(TargetReport(state: .done, note: reported))
            return
        }
        let blobs = manifest.manifest.blobs
        let total = blobs.reduce(0) { $0 + $1.size }
        try await leader.report(TargetReport(state: .transferring, bytesDone: 0, bytesTotal: total, starting: true))
        logger.notice("transfer started", metadata: ["blobs": "\(blobs.count)", "bytes": "\(total)"])
        let outcome: LoadOutcome
        if environment.handoffOverlapsTransfer {
            outcome = try await transferWhilePulling(image, blobs: blobs, total: total)
        } else {
            try await transferAndReport(blobs, total: total)
            try await leader.waitForLoadSlot()
            outcome = try await handOff(image, while: "loading into the Docker engine")
        }
        var note = "loaded"
        if case .loaded(let omitted, let fallback) = outcome, omitted > 0 {
            note = fallback ? "loaded (full archive after a partial one failed)" : "loaded (\(omitted) layers already in the engine)"
        }
        await environment.recordHeld(item, manifest: manifest.manifest, bytes: manifest.bytes, mediaType: manifest.mediaType)
        note = Self.noted(note, untagged: item.engineTag == nil, image: manifest.manifest.config.digest)
        // Logged first: once the leader has the report, its answer to the work poll (which can
        // come back before the report's own) stops this task.
        logger.notice("image installed", metadata: ["note": "\(note)"])
        try await leader.report(TargetReport(state: .done, bytesDone: total, bytesTotal: total, note: note))
    }

    /// `note`, saying for an image installed by digest how to run it: Docker records a digest
    /// only for an image it pulled from the registry itself, so `docker run NAME@DIGEST` does not
    /// find it (docs/installs.md).
    static func noted(_ note: String, untagged: Bool, image: Digest) -> String {
        guard untagged else { return note }
        return "\(note); installed by digest, so untagged: run it by image ID \(image.encoded.prefix(12)) (Docker cannot find it by digest)"
    }

    /// The transfer, then `ready` reported (progress only if the target took its slot meanwhile).
    func transferAndReport(_ blobs: [Descriptor], total: Int64, inFlight: Int? = nil) async throws {
        try await transfer(blobs, total: total, inFlight: inFlight)
        logger.notice("every blob held")
        try await leader.report(TargetReport(state: .ready, bytesDone: total, bytesTotal: total))
    }

    /// The handoff into the engine, timed.
    /// `archive`: the docker-archive load whatever the handoff (``TargetEnvironment/load(_:logger:)``).
    func handOff(_ image: LoadableImage, while step: Logger.Message, archive: Bool = false) async throws -> LoadOutcome {
        logger.notice(step)
        let started = ContinuousClock.now
        let outcome = try await archive ? environment.load(image, logger: logger) : environment.install(image, logger: logger)
        FerryMetrics.recordLoad(.now - started)
        Failpoint.followerLoaded.reach()
        logger.notice("engine handoff finished")
        return outcome
    }

    /// The manifest, its media type, and the config bytes (the config fetched first).
    private func manifestAndConfig() async throws -> (manifest: ImageManifest, bytes: [UInt8], mediaType: String, config: [UInt8]) {
        let bytes = try await environment.manifest(of: item)
        let parsed = try ParsedManifest.decode(bytes, contentType: nil)
        guard case .image(let manifest, _) = parsed else {
            throw FerryError(.manifestInvalid, "\(item.manifestDigest) is not an image manifest")
        }
        environment.lease(leaseName, adding: manifest.blobs.map(\.digest))
        try await ensure(manifest.config)
        return (manifest, bytes, parsed.mediaType, try await environment.bytes(of: manifest.config.digest))
    }

    /// Pulls every blob into the store (each verified on commit), reporting progress, and
    /// meanwhile re-verifies the blobs that were already there: one corrupted on disk since it was
    /// committed is deleted and fetched again, never loaded. A blob this transfer commits was
    /// hashed as it was written, so it is not read back. The first blob to fail ends the
    /// transfer; so does the leader saying the target is over (a progress report refused).
    ///
    /// `inFlight` bounds the blobs pulled at once, started in the manifest's order (nil: all at
    /// once): the overlapped pull handoff has the blobs land in the order the engine takes them.
    private func transfer(_ blobs: [Descriptor], total: Int64, inFlight: Int? = nil) async throws {
        let environment = self.environment
        let done: @Sendable () -> Int64 = { blobs.reduce(0) { $0 + environment.bytesHeld($1) } }
        let held = Set(blobs.filter { environment.holds($0) }.map(\.digest))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                // Progress to the leader while the transfer runs; a refused report ends it.
                while !Task.isCancelled {
                    try await Task.sleep(for: progressInterval)
                    do {
                        try await leader.report(TargetReport(state: .transferring, bytesDone: done(), bytesTotal: total))
                    } catch is TargetSuperseded {
                        throw TargetSuperseded()
                    } catch {}
                }
            }
            group.addTask {
                try await withThrowingTaskGroup(of: Void.self) { downloads in
                    var running = 0
                    for blob in blobs {
                        if let inFlight, running >= inFlight {
                            _ = try await downloads.next()
                            running -= 1
                        }
                        downloads.addTask { held.contains(blob.digest) ? try await reverify(blob) : try await ensure(blob) }
                        running += 1
                    }
                    for try await _ in downloads {}
                }
            }
            // The downloads finishing, or either task failing, ends the transfer; the other is cancelled.
            for try await _ in group {
                group.cancelAll()
                return
            }
        }
    }

    /// Re-hashes a blob that was in the store before this transfer; fetches it again if corrupt.
    private func reverify(_ blob: Descriptor) async throws {
        guard try await !environment.reverify(blob) else { return }
        logger.warning("blob corrupt in the store; fetching it again", metadata: ["digest": "\(blob.digest)"])
        try await ensure(blob)
    }

    /// Makes sure the store holds `blob`; a blob another image is already pulling is waited for,
    /// not fetched twice.
    private func ensure(_ blob: Descriptor) async throws {
        if environment.holds(blob) { return }
        try await environment.fetch(blob, repository: item.repository)
    }
}
