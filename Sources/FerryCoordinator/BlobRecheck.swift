import FerryCore
import FerryDiagnostics
import FerryStore
import Foundation
import Logging
import Synchronization

/// Re-hashes this node's copies of blobs its peers reported corrupt, when the leader asks (its
/// heartbeat answer's `recheckBlobs`: the node was flagged, see docs/mesh.md, *Evidence*). A copy
/// that fails (the disk damaged it after it verified) is removed through the store's removal
/// claim and the leader told it is `gone`, so nobody is sent here for it; an install that needs it
/// fetches it again. A sound copy stays, and is not hashed again within ``soundFor`` however
/// often it is asked about: names from one join token make a quorum, so a liar could otherwise
/// keep a node re-reading its store.
final class BlobRecheck: Sendable {
    /// What came of one request.
    enum Outcome: Equatable, Sendable {
        /// Not in the store (never held, or already removed).
        case absent
        /// Found sound within ``soundFor``: not hashed again.
        case recentlySound
        case sound
        /// Damaged: removed, and the leader told.
        case removed
        /// In use (an install holds it, a peer reads it) for as long as it waited: left for that
        /// install's own re-verification, or the next request.
        case busy
        /// The hash could not be taken (a read error): left as it is.
        case unreadable(String)
    }

    /// How long a copy found sound is not hashed again. Default 1 h.
    static let soundFor: Duration = .seconds(3600)

    private let store: BlobStore
    private let gone: @Sendable (Digest, Int64) async -> Void
    private let logger: Logger
    private let busyRetry: Duration
    private let busyAttempts: Int
    private let asked: AsyncStream<Digest>
    private let asking: AsyncStream<Digest>.Continuation
    private let soundAt = Mutex<[Digest: ContinuousClock.Instant]>([:])

    /// `gone` tells the leader a blob is no longer held (the node's event batcher, in order with
    /// its other blob events). A blob in use is tried again every `busyRetry`, `busyAttempts` times.
    init(
        store: BlobStore, logger: Logger, busyRetry: Duration = .seconds(10), busyAttempts: Int = 30,
        gone: @escaping @Sendable (Digest, Int64) async -> Void
    ) {
        self.store = store
        self.gone = gone
        self.logger = logger
        self.busyRetry = busyRetry
        self.busyAttempts = busyAttempts
        (asked, asking) = AsyncStream<Digest>.makeStream(bufferingPolicy: .bufferingNewest(256))
    }

    /// Queues the blobs the leader asked about (at most 64 per answer are taken).
    func ask(_ digests: [Digest]) {
        for digest in digests.prefix(64) { asking.yield(digest) }
    }

    /// Re-hashes what is asked, one blob at a time, until cancelled.
    func run() async {
        for await digest in asked { _ = await recheck(digest) }
    }

    /// Re-hashes this node's copy of `digest` now.
    func recheck(_ digest: Digest) async -> Outcome {
        var logger = self.logger
        logger[metadataKey: "digest"] = "\(digest)"
        if let at = soundAt.withLock({ $0[digest] }), ContinuousClock.now - at < Self.soundFor { return .recentlySound }
        for attempt in 1...max(busyAttempts, 1) {
            guard let size = store.size(of: digest) else { return .absent }
            guard store.use(of: digest) != nil else { return await rehash(digest, size: size, logger: logger) }
            guard attempt < busyAttempts else { break }
            do { try await Task.sleep(for: busyRetry) } catch { return .busy }
        }
        logger.info("a blob peers reported corrupt stayed in use; not re-verified now (an install that holds it re-verifies it itself)")
        return .busy
    }

    private func rehash(_ digest: Digest, size: Int64, logger: Logger) async -> Outcome {
        let path = store.path(for: digest)
        let file = Self.fileNumber(path)
        do {
            if try await store.verify(digest) {
                soundAt.withLock { $0[digest] = .now }
                logger.notice("re-verified this node's copy of a blob that peers reported corrupt: it is sound")
                return .sound
            }
        } catch is CancellationError {
            return .busy
        } catch let error as FerryError where error.code == .blobUnknown {
            return .absent
        } catch {
            let message = (error as? FerryError)?.message ?? "\(error)"
            logger.warning("could not re-verify this node's copy of a blob that peers reported corrupt", metadata: ["error": "\(message)"])
            return .unreadable(message)
        }
        FerryMetrics.countVerificationFailure()
        // Removed only if still the file that was hashed and nobody started using it meanwhile
        // (an install replacing it holds a lease): never a good copy fetched in its place.
        if let refused = store.beginRemoval(digest) {
            logger.info("a blob that failed its re-verification is in use; left to the install that holds it", metadata: ["use": "\(refused)"])
            return .busy
        }
        guard file != nil, Self.fileNumber(path) == file else {
            store.abandonRemoval(digest)
            return .busy
        }
        _ = store.finishRemoval(digest)
        logger.error(
            "this node's copy of a blob failed verification (peers reported it corrupt): removed; an install that needs it fetches it again; check this node's disk")
        await gone(digest, size)
        return .removed
    }

    /// The file's inode number, nil if it is not there.
    private static func fileNumber(_ path: String) -> UInt64? {
        guard let value = (try? FileManager.default.attributesOfItem(atPath: path))?[.systemFileNumber] else { return nil }
        return (value as? UInt64) ?? (value as? NSNumber)?.uint64Value
    }
}
