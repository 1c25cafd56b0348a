import FerryConcurrency
import FerryCore
import FerryDiagnostics
import FerryRegistry
import FerryState
import FerryStore
import FerryTransfer
import Logging

/// Fetches blobs from upstream into the store, each at most once at a time however many
/// images ask for it (single-flight), with bounded downloads per upstream registry.
///
/// A caller that is cancelled (its image failed for another blob, say) stops waiting at once;
/// the download goes on while another image still waits for it.
///
/// A blob already committed in the store is never fetched again. A partial download left by a
/// crash resumes from where it stopped. Bytes that fail their digest are discarded and fetched
/// once more from the start before the blob is reported failed.
///
/// A blob of at least `serialDownloadSize` bytes takes every download slot of its registry, so
/// large layers arrive one after the other, in the order their images ask for them, instead of
/// all finishing at the end: an engine unpacks each while the next arrives. Small blobs share the
/// slots, and is downloaded over `blobConnections` of them at once, in ordered pieces
/// (``PiecedDownload``).
public actor BlobFetcher {
    private let client: RegistryClient
    private let store: BlobStore
    private let database: FerryDatabase
    private let progress: ProgressBoard
    private let downloadsPerRegistry: Int
    private let serialDownloadSize: Int64
    private let blobConnections: Int
    private var limits: [String: AsyncSemaphore] = [:]
    private let flights = SingleFlight<Digest, Void>()
    private let logger: Logger

    public init(
        client: RegistryClient, store: BlobStore, database: FerryDatabase, progress: ProgressBoard, downloadsPerRegistry: Int,
        serialDownloadSize: Int64 = 0, blobConnections: Int = 1, logger: Logger
    ) {
        self.client = client
        self.store = store
        self.database = database
        self.progress = progress
        self.downloadsPerRegistry = max(downloadsPerRegistry, 1)
        self.serialDownloadSize = serialDownloadSize
        self.blobConnections = max(blobConnections, 1)
        self.logger = logger
    }

    /// Makes sure the store holds `descriptor`'s blob, fetching it from `repository` if needed.
    /// Concurrent calls for the same digest share one download.
    public func ensure(_ descriptor: Descriptor, from repository: ImageReference) async throws {
        let limit = limit(for: repository.registry)
        let slots = serialDownloadSize > 0 && descriptor.size >= serialDownloadSize ? limit.limit : 1
        let connections = slots > 1 ? min(blobConnections, slots) : 1
        try await flights.run(descriptor.digest) { [client, store, database, progress, logger] in
            if store.size(of: descriptor.digest) == descriptor.size {
                // Recorded present: verified when it was committed. A file no record vouches for
                // (an orphan of a collection, a crash before its record, one put there by hand)
                // is hashed before it counts.
                if try await database.blob(descriptor.digest)?.state == .present {
                    try await database.setBlobState(descriptor.digest, .present)
                    return
                }
                // A file that cannot be read (a collection removed the orphan meanwhile) is fetched
                // too; a shutdown mid-hash says nothing about the file.
                let sound: Bool
                do {
                    sound = try await store.verify(descriptor.digest)
                } catch is CancellationError {
                    throw CancellationError()
                } catch {
                    sound = false
                }
                if sound {
                    try await database.setBlobState(descriptor.digest, .present)
                    return
                }
                logger.warning(
                    "a file in the store does not match its digest: fetching the blob again",
                    metadata: ["digest": "\(descriptor.digest)", "path": "\(store.path(for: descriptor.digest))"])
                try? store.delete(descriptor.digest)
            }
            try await Self.download(
                descriptor, from: repository, client: client, store: store, database: database,
                progress: progress, limit: limit, slots: slots, connections: connections, logger: logger)
        }
    }

    /// Cancels the downloads in flight and waits until each has closed its ingest and recorded
    /// its state (their partial files resume at the next start). Call when the leader stops.
    public func shutdown() async {
        await flights.cancelAll()
    }

    /// Digests being downloaded right now.
    public var active: [Digest] { get async { await flights.keys } }

    private func limit(for registry: String) -> AsyncSemaphore {
        if let existing = limits[registry] { return existing }
        let semaphore = AsyncSemaphore(limit: downloadsPerRegistry)
        limits[registry] = semaphore
        return semaphore
    }

    private static func download(
        _ descriptor: Descriptor,
        from repository: ImageReference,
        client: RegistryClient,
        store: BlobStore,
        database: FerryDatabase,
        progress: ProgressBoard,
        limit: AsyncSemaphore,
        slots: Int,
        connections: Int,
        logger: Logger
    ) async throws {
        let digest = descriptor.digest
        var logger = logger
        logger[metadataKey: "digest"] = "\(digest)"
        let clock = FirstByteClock()
        do {
            try await limit.withPermit(slots) {
                var attempts = 0
                while true {
                    attempts += 1
                    do {
                        // Closed whatever happens; the partial stays for a resume unless its bytes are bad.
                        try await store.withIngest(digest, expectedSize: descriptor.size) { ingest in
                            let have = await ingest.offset()
                            try await store.prepareDownload(of: descriptor.size - have, what: "blob \(digest)", digest: digest)
                            try await database.setBlobState(digest, .fetching, bytesDone: have)
                            logger.info("fetching blob", metadata: ["offset": "\(have)", "size": "\(descriptor.size)"])
                            clock.started(at: have)
                            progress.set(digest, have)
                            // Pieces ahead of the ingest wait in a spool: up to the rest of the blob again.
                            if connections > 1, descriptor.size - have > PiecedDownload.pieceSize,
                                (try? store.ensureSpace(for: 2 * (descriptor.size - have), what: "", excluding: digest)) != nil
                            {
                                try await downloadInPieces(
                                    descriptor, from: repository, client: client, store: store, into: ingest, progress: progress,
                                    clock: clock, connections: connections, logger: logger)
                            }
                            try await client.downloadBlob(
                                repository: repository, descriptor: descriptor, into: IngestSink(ingest: ingest),
                                progress: {
                                    clock.progressed(to: $0)
                                    progress.set(digest, $0)
                                }, logger: logger)
                            try await ingest.commit()
                        }
                        Failpoint.leaderBlobCommitted.reach()
                        break
                    } catch let error as FerryError where BlobStore.bytesAreBad(error) && attempts < 2 {
                        logger.warning("blob failed verification; fetching it again", metadata: ["reason": "\(error.message)"])
                    }
                }
            }
            // Recorded present before its progress is dropped: the API never shows a blob being
            // fetched with fewer bytes than it holds.
            try await database.setBlobState(digest, .present)
            progress.remove(digest)
            logger.info("blob fetched", metadata: clock.metadata.merging(["size": "\(descriptor.size)"]) { $1 })
        } catch {
            progress.remove(digest)
            if error is CancellationError {
                try? await database.setBlobState(digest, .missing)
                throw error
            }
            let failure = (error as? FerryError) ?? FerryError(.internal, "blob \(digest): \(error)")
            logger.warning("blob fetch failed", metadata: ["reason": "\(failure.message)"])
            try? await database.setBlobState(digest, .failed, error: failure)
            throw failure
        }
    }

    /// ``PiecedDownload`` into `ingest`; a registry that ignores `Range` leaves the ingest as it
    /// was, for the download over one connection that follows (which then has nothing left to do
    /// when the pieces completed).
    private static func downloadInPieces(
        _ descriptor: Descriptor, from repository: ImageReference, client: RegistryClient, store: BlobStore, into ingest: BlobIngest,
        progress: ProgressBoard, clock: FirstByteClock, connections: Int, logger: Logger
    ) async throws {
        let spool = try await BlobSpool.create(in: store, for: descriptor.digest)
        try await withAsyncCleanup {
            do {
                try await PiecedDownload(client: client, repository: repository, descriptor: descriptor, connections: connections, logger: logger)
                    .run(into: ingest, spool: spool) {
                        clock.progressed(to: $0)
                        progress.set(descriptor.digest, $0)
                    }
            } catch let error as FerryError where error.code == .unsupported {
                logger.info("the registry does not serve pieces; downloading over one connection", metadata: ["reason": "\(error.message)"])
            }
        } cleanup: {
            await spool.close()
        }
    }
}
