import FerryCore
import FerryRegistry
import FerryServer
import FerryStore
import Foundation
import Logging
import Synchronization

/// What a follower's loopback registry does for a blob the node does not hold: brings it from
/// the mesh, as an install would, and serves it as it arrives. A node's collection removes the
/// blobs of images it keeps no more (`ferry gc --keep`, the watermarks); the leader still answers
/// their tags for the node (``LeaderManifestFallback``), and without this the node's containerd
/// got the manifest from its mirror and every missing blob from the upstream.
///
/// The registry promises the blob (`200` and its length) only once its bytes flow: whatever
/// keeps them from coming (the leader away or without it, no room on the disk, no source) is
/// `404 BLOB_UNKNOWN` within ``firstBytesTimeout``, and the client goes to its next host (for
/// containerd, the upstream), as before.
enum MeshBlobFallback {
    /// How long the first bytes may take before the answer is `404` (the leader's answer about
    /// the blob takes at most ``LeaderManifestFallback/leaderQuestionTimeout``, 10 s, too).
    static let firstBytesTimeout: Duration = .seconds(10)
    /// A transfer that gets no byte for this long is given up (its response breaks off).
    static let stallTimeout: Duration = .seconds(120)
    /// How long a fetched blob stays leased (kept from collection) for the request that asked.
    static let leasedFor: Duration = .seconds(60)
    /// After the leader could not be asked, missing blobs are `404` at once for this long.
    static let leaderAwayFor: Duration = .seconds(30)

    /// Until when the leader counts as away (shared by every request of one follower).
    final class LeaderAway: Sendable {
        let until = Mutex<ContinuousClock.Instant?>(nil)
        var now: Bool { until.withLock { $0.map { ContinuousClock.now < $0 } ?? false } }
        func mark() { until.withLock { $0 = .now + MeshBlobFallback.leaderAwayFor } }
    }

    /// Whether a fallback's transfer has ended.
    final class Ended: Sendable {
        let value = Atomic<Bool>(false)
    }

    /// Asks the leader's `/v2/` for the blob's size with the node credential (the leader answers
    /// only about the node's own images, and only when it holds the blob or is fetching it),
    /// announces and leases it in `store`, and fetches it from the mesh (peers or the leader, as
    /// the tracker says; shared with any other download of it). Answers the size once the first
    /// bytes arrived (or the blob is whole), nil when they do not come in time.
    static func meshBlobs(_ transfers: TransferClient, store: BlobStore, logger: Logger) -> RegistryReadAPI.BlobFallback {
        let away = LeaderAway()
        return { _, repository, digest in
            var tagged = logger
            tagged[metadataKey: "digest"] = "\(digest)"
            let logger = tagged
            if away.now { return nil }
            let size: Int64
            do {
                let asked = ImageReference(registry: transfers.leaderHost, repository: repository)
                size = try await LeaderManifestFallback.askLeader(about: "blob \(digest)") {
                    try await transfers.client.blobSize(repository: asked, digest: digest, logger: logger)
                }
            } catch let error as FerryError where [.blobUnknown, .manifestUnknown, .nameUnknown].contains(error.code) {
                return nil
            } catch is CancellationError {
                return nil
            } catch {
                away.mark()
                logger.info(
                    "cannot ask the leader for a blob the node's registry was asked for; answering that it is unknown",
                    metadata: ["error": "\((error as? FerryError)?.message ?? "\(error)")", "for": "\(leaderAwayFor)"])
                return nil
            }
            let blob = Descriptor(mediaType: "application/octet-stream", digest: digest, size: size)
            let name = "mirror \(UUID().uuidString)"
            store.lease(name, adding: [digest])
            store.expectArrivals(name, of: [blob])
            let ended = Ended()
            logger.info("fetching a blob the node's registry was asked for and no longer holds", metadata: ["size": "\(size)"])
            let task = Task {
                defer { store.releaseLease(name) }
                do {
                    try await fetch(blob, repository: repository, transfers: transfers, store: store)
                } catch {
                    logger.warning(
                        "could not fetch a blob the node's registry was asked for",
                        metadata: ["error": "\((error as? FerryError)?.message ?? "\(error)")"])
                }
                store.endArrivals(name)
                ended.value.store(true, ordering: .sequentiallyConsistent)
                try? await Task.sleep(for: leasedFor)
            }
            // Promised only once bytes flow: a partial kept from an earlier attempt is not enough.
            let deadline = ContinuousClock.now + firstBytesTimeout
            var before: Int64?
            while ContinuousClock.now < deadline {
                if store.size(of: digest) == size { return size }
                if let held = store.ingestProgress(digest)?.snapshot.durable {
                    if let before, held > before { return size }
                    before = before ?? held
                }
                if ended.value.load(ordering: .sequentiallyConsistent) { return nil }
                try await Task.sleep(for: .milliseconds(20))
            }
            task.cancel()
            logger.info("no byte of a blob the node's registry was asked for came in time; answering that it is unknown")
            return nil
        }
    }

    /// Fetches `blob` through the mesh; gives up when nothing arrives for ``stallTimeout`` (a
    /// blob whose sources went away waits for new ones without end, as an install's does until
    /// its deadline).
    private static func fetch(_ blob: Descriptor, repository: String, transfers: TransferClient, store: BlobStore) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await transfers.fetcher.ensure(blob, repository: repository) }
            group.addTask {
                var last: (held: Int64, at: ContinuousClock.Instant) = (-1, .now)
                while true {
                    try await Task.sleep(for: .seconds(1))
                    let held = store.ingestProgress(blob.digest)?.snapshot.durable ?? 0
                    if held != last.held {
                        last = (held, .now)
                    } else if ContinuousClock.now - last.at > stallTimeout {
                        throw FerryError(.upstreamUnreachable, "no byte of blob \(blob.digest) arrived for \(stallTimeout)")
                    }
                }
            }
            defer { group.cancelAll() }
            try await group.next()
        }
    }
}
