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

    private struct State {
        /// Asked and not done yet (each blob queued once however often the leader asks).
        var queued: Set<Digest> = []
        /// Blobs found in use, with how many times.
        var busy: [Digest: Int] = [:]
        /// When each blob was last found sound.
        var soundAt: [Digest: ContinuousClock.Instant] = [:]
    }

    private let state = Mutex(State())

    /// `gone` tells the leader a blob is no longer held (the node's event batcher, in order with
    /// its other blob events). A blob in use is asked about again after `busyRetry`, up to
    /// `busyAttempts` times, without holding up the others.
    init(
        store: BlobStore, logger: Logger, busyRetry: Duration = .seconds(10), busyAttempts: Int = 30,
        gone: @escaping @Sendable (Digest, Int64) async -> Void
    ) {
        self.store = store
        self.gone = gone
        self.logger = logger
        self.busyRetry = busyRetry
        self.busyAttempts = busyAttempts
        (asked, asking) = AsyncStream<Digest>.makeStream()
    }

    /// Queues the blobs the leader asked about (at most 64 per answer; one already queued is not
    /// queued twice).
    func ask(_ digests: [Digest]) {
        for digest in digests.prefix(64) where state.withLock({ $0.queued.insert(digest).inserted }) {
            asking.yield(digest)
        }
    }

    /// Re-hashes what is asked, one blob at a time, until cancelled; a blob in use is asked
    /// about again later.
    func run() async {
        await withDiscardingTaskGroup { group in
            for await digest in asked {
                let outcome = await recheck(digest)
                let again = state.withLock { state -> Bool in
                    let attempts = (state.busy[digest] ?? 0) + 1
                    guard outcome == .busy, attempts < busyAttempts else {
                        state.queued.remove(digest)
                        state.busy[digest] = nil
                        return false
                    }
                    state.busy[digest] = attempts
                    return true
                }
                if again {
                    group.addTask {
                        guard (try? await Task.sleep(for: self.busyRetry)) != nil else { return }
                        self.asking.yield(digest)
                    }
                } else if outcome == .busy {
                    logger.info(
                        "a blob peers reported corrupt stayed in use; not re-verified (an install that holds it re-verifies it itself)",
                        metadata: ["digest": "\(digest)"])
                }
            }
        }
    }

    /// Re-hashes this node's copy of `digest` now; `.busy` when it is in use.
    func recheck(_ digest: Digest) async -> Outcome {
        var logger = self.logger
        logger[metadataKey: "digest"] = "\(digest)"
        if let at = state.withLock({ $0.soundAt[digest] }), ContinuousClock.now - at < Self.soundFor { return .recentlySound }
        guard let size = store.size(of: digest) else { return .absent }
        guard store.use(of: digest) == nil else { return .busy }
        return await rehash(digest, size: size, logger: logger)
    }

    private func rehash(_ digest: Digest, size: Int64, logger: Logger) async -> Outcome {
        let path = store.path(for: digest)
        let file = Self.fileNumber(path)
        do {
            if try await store.verify(digest) {
                state.withLock { $0.soundAt[digest] = .now }
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
        switch store.beginRemoval(digest) {
        case nil:
            break
        case .absent?:
            return .absent  // a collection is removing it
        case let refused?:
            logger.info("a blob that failed its re-verification came into use; left to the install that holds it", metadata: ["use": "\(refused)"])
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
