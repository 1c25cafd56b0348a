import FerryConcurrency
import FerryCore
import FerryMesh
import FerryState
import FerryStore
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// A node's garbage collector: `ferry gc` on demand, and automatic collection when the disk
/// passes the high watermark (checked periodically and before downloads that would pass it).
///
/// Planning, deleting rows and claiming blobs for removal happen in one database transaction
/// (`FerryDatabase.collectGarbage`), the unlinks after its commit; the store refuses, at the
/// moment of the claim, any blob that is being written, read or leased. Two collections'
/// transactions never interleave (SQLite runs one write transaction at a time, and automatic runs
/// also go through one gate); a blob claimed by one is skipped by the other.
struct GarbageCollector: Sendable {
    /// `leader`, or the follower's name: for reports and logs.
    let node: String
    let database: FerryDatabase
    let store: BlobStore
    let configuration: GarbageCollectionConfiguration
    let logger: Logger
    /// Told what was removed from disk (digest → bytes); a follower tells the leader's tracker.
    let removed: @Sendable ([Digest: Int64]) async -> Void

    /// `ferry gc`: every unreferenced blob, after retention when `keep` is given.
    func collect(_ request: GarbageCollectionRequest) async throws -> GarbageCollectionReport {
        let outcome = try await collect(GarbageCollection.Policy(keep: request.keep, goal: .everything), dryRun: request.dryRun)
        logger.notice(
            request.dryRun ? "garbage collection dry run" : "garbage collected",
            metadata: Self.metadata(outcome).merging(["keep": "\(request.keep.map(String.init) ?? "all")"]) { $1 })
        return GarbageCollectionReport(
            node: node, dryRun: outcome.dryRun, keep: request.keep,
            images: outcome.images.map { GarbageCollectionReport.Image(reference: $0.reference, platform: $0.platform) },
            blobs: outcome.blobs.map { GarbageCollectionReport.Blob(digest: $0.digest, size: $0.bytes) },
            manifests: outcome.manifests,
            inUse: outcome.inUse.map { GarbageCollectionReport.Blob(digest: $0.blob.digest, size: $0.blob.bytes, reason: $0.reason) },
            bytesFreed: outcome.bytes)
    }

    /// Runs one collection and tells ``removed`` what went.
    func collect(_ policy: GarbageCollection.Policy, dryRun: Bool) async throws -> GarbageCollection.Outcome {
        let outcome = try await database.collectGarbage(policy, store: store, dryRun: dryRun)
        if !dryRun, !outcome.blobs.isEmpty {
            await removed(Dictionary(outcome.blobs.map { ($0.digest, $0.bytes) }, uniquingKeysWith: +))
        }
        return outcome
    }

    /// Collects towards the low watermark if usage (plus `incoming` bytes about to be written) is
    /// above the high one. Returns whether usage is still above the low watermark afterwards.
    @discardableResult
    func relieve(incoming: Int64, trigger: String) async -> Bool {
        guard let high = configuration.highWatermark, let before = configuration.diskUsage(store), before.exceeds(high, adding: incoming)
        else { return false }
        let low = configuration.lowWatermark
        let goal = before.bytesToFree(toReach: low, adding: incoming)
        do {
            let outcome = try await collect(GarbageCollection.Policy(keep: configuration.keep, goal: .free(goal)), dryRun: false)
            let after = configuration.diskUsage(store)
            var metadata = Self.metadata(outcome)
            metadata["trigger"] = "\(trigger)"
            metadata["usage_before"] = "\(GarbageCollectionConfiguration.format(before.fraction))"
            metadata["usage_after"] = "\(after.map { GarbageCollectionConfiguration.format($0.fraction) } ?? "?")"
            metadata["high_watermark"] = "\(GarbageCollectionConfiguration.format(high))"
            metadata["low_watermark"] = "\(GarbageCollectionConfiguration.format(low))"
            // A download asks before it writes: the disk may be far below the watermark, and the
            // download large (or the disk small).
            let cause =
                incoming > 0 && !before.exceeds(high, adding: 0)
                ? "a download of \(ByteSize.format(incoming)) would take the disk past the high watermark" : "disk above the high watermark"
            if incoming > 0 { metadata["incoming_bytes"] = "\(incoming)" }
            logger.notice("\(cause): collected least recently used unreferenced blobs", metadata: metadata)
            guard let after, after.exceeds(low, adding: incoming) else { return false }
            logger.warning(
                incoming > 0
                    ? "the disk with the download would still be above the low watermark: everything left is kept by retention or in use"
                    : "disk still above the low watermark: everything left is kept by retention or in use",
                metadata: [
                    "usage": "\(GarbageCollectionConfiguration.format(after.fraction))", "incoming_bytes": "\(incoming)",
                    "keep": "\(configuration.keep.map(String.init) ?? "all")",
                ])
            return true
        } catch {
            logger.warning("automatic garbage collection failed", metadata: ["error": "\((error as? FerryError)?.message ?? "\(error)")"])
            return true
        }
    }

    /// Automatic collection, until graceful shutdown: checks usage every `interval`, and lets the
    /// store ask for room before downloads (``BlobStore/makeRoom(for:)``). Does nothing when the
    /// high watermark is off.
    func run() async {
        guard configuration.highWatermark != nil else { return }
        let gate = AsyncSemaphore(limit: 1)
        // After a collection that could not get below the low watermark, downloads do not each
        // start another one; the periodic check carries on.
        let stuckUntil = Mutex<ContinuousClock.Instant?>(nil)
        let interval = configuration.interval
        store.setSpaceHandler { incoming in
            if let until = stuckUntil.withLock({ $0 }), ContinuousClock.now < until { return }
            try? await gate.withPermit {
                let stuck = await self.relieve(incoming: incoming, trigger: "download")
                stuckUntil.withLock { $0 = stuck ? .now + interval : nil }
            }
        }
        defer { store.setSpaceHandler(nil) }
        await PeriodicTask(every: interval, runsAtStart: true) {
            try? await gate.withPermit {
                let stuck = await self.relieve(incoming: 0, trigger: "periodic")
                stuckUntil.withLock { $0 = stuck ? .now + interval : nil }
            }
        }.run()
    }

    static func metadata(_ outcome: GarbageCollection.Outcome) -> Logger.Metadata {
        [
            "images": "\(outcome.images.count)", "blobs": "\(outcome.blobs.count)", "manifests": "\(outcome.manifests.count)",
            "bytes_freed": "\(outcome.bytes)", "in_use": "\(outcome.inUse.count)",
        ]
    }
}
