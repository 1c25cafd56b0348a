import AsyncHTTPClient
import Crypto
import FerryCore
import FerryMesh
import FerryRegistry
import FerryServer
import FerryState
import FerryStore
import Foundation
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

/// The leader: fetches images from upstream once into its store and serves them.
///
/// Runs the HTTP server (health, `/v2/` read API, admin API) and the fetch worker. Fetch
/// requests are durable: they are rows in SQLite before they are acknowledged, and a restarted
/// leader picks up every unfinished one, resuming partial downloads.
public final class LeaderService: Service, Sendable {
    public let configuration: LeaderConfiguration
    public let directory: DataDirectory
    public let database: FerryDatabase
    public let store: BlobStore
    public let adminToken: String
    public let joinToken: String
    let client: RegistryClient
    let fetcher: BlobFetcher
    let progress = ProgressBoard()
    let logger: Logger
    let signal = ChangeSignal()
    let credentials: LeaderCredentials
    let peerKey: Curve25519.Signing.PrivateKey
    let tracker: Tracker
    let ca: ClusterCA
    let installs: InstallCoordinator
    private let queue: AsyncStream<Int64>
    private let enqueue: AsyncStream<Int64>.Continuation

    func enqueueFetch(_ id: Int64) { enqueue.yield(id) }

    /// Blobs being fetched from upstream right now.
    public var activeDownloads: [FerryCore.Digest] { get async { await fetcher.active } }
    private let running = Mutex<Set<Int64>>([])
    private let boundAddress = Mutex<String?>(nil)
    private let directoryLock: DirectoryLock

    public init(configuration: LeaderConfiguration, logger: Logger) throws {
        self.configuration = configuration
        self.logger = logger
        // Check what the operator gave before touching the data directory.
        let credentials = try configuration.registryAuthFile.map { file throws(FerryError) in try RegistryCredentials(contentsOf: file) } ?? .init()
        let directory = try DataDirectory(configuration.dataDirectory)
        self.directory = directory
        self.directoryLock = try directory.lock()
        let admin = try directory.secret(at: directory.adminTokenPath)
        let ca = try ClusterCA.loadOrCreate(in: directory)
        self.ca = ca
        let join = try directory.joinToken(fingerprint: ca.fingerprint)
        self.adminToken = admin.token
        self.joinToken = join.token
        if admin.created || join.created {
            logger.notice(
                "created leader tokens",
                metadata: ["admin_token_file": "\(directory.adminTokenPath)", "join_token_file": "\(directory.joinTokenPath)"])
        }
        self.database = try FerryDatabase.open(path: directory.databasePath)
        self.store = try BlobStore(root: directory.storePath, configuration: configuration.store)
        self.client = try RegistryClient(configuration: configuration.registry, credentials: credentials)
        self.credentials = LeaderCredentials(adminToken: admin.token, joinToken: join.token, database: database)
        self.peerKey = try directory.peerSigningKey()
        self.tracker = Tracker(selector: configuration.sources)
        MetricsExport.bootstrap()
        self.fetcher = BlobFetcher(
            client: client, store: store, database: database, progress: progress,
            downloadsPerRegistry: configuration.maxConcurrentDownloadsPerRegistry, logger: logger)
        let (queue, enqueue) = AsyncStream.makeStream(of: Int64.self)
        (self.queue, self.enqueue) = (queue, enqueue)
        self.installs = InstallCoordinator(database: database, signal: signal, logger: logger, fetch: { id in enqueue.yield(id) })
    }

    /// The URL the server listens on, once it is up.
    public var address: String? { boundAddress.withLock { $0 } }

    public func run() async throws {
        // The directory is free again once this run is over, even while the service object lives on.
        defer { directoryLock.release() }
        let router = buildFerryRouter(
            verifier: credentials,
            registry: RegistryReadAPI(
                database: database, store: store, defaultRegistry: configuration.defaultRegistry,
                uploadLimiter: configuration.maxUploadRate.map { RateLimiter(bytesPerSecond: $0) }),
            apis: .leader(admin: AdminRoutes(backend: self), mesh: MeshRoutes(backend: self)))
        var identity: MeshServer.Identity?
        if !configuration.insecureMesh {
            let names = [ProcessInfo.processInfo.hostName, configuration.host] + configuration.tlsNames
            let tls = try directory.tlsIdentity { publicKey in
                try ca.issue(publicKeyPEM: publicKey, commonName: "ferry leader", names: names.filter { $0 != "0.0.0.0" && $0 != "::" })
            }
            identity = MeshServer.Identity(certificates: [tls.certificate, ca.certificatePEM], key: tls.key)
        }
        let server = try MeshServer(
            router: router, limits: configuration.http, identity: identity, host: configuration.host, port: configuration.port,
            directory: directory, role: "leader", metadata: ["data_dir": "\(directory.path)"], logger: logger,
            listening: { [self] url in boundAddress.withLock { $0 = url } })
        try await withAsyncCleanup {
            try await recover()
            try await withGracefulShutdownHandler {
                try await withThrowingDiscardingTaskGroup { group in
                    group.addTask { try await server.run() }
                    group.addTask { try await self.runWorker() }
                    group.addTask { await self.runProgressFlusher() }
                    group.addTask { await self.runInstallHousekeeping() }
                    group.addTask { await self.runGarbageCollection() }
                }
            } onGracefulShutdown: {
                // Long polls answer now, so that the server can drain its connections.
                self.signal.close()
            }
        } cleanup: {
            try? await client.shutdown()
        }
    }

    /// Brings the database in line with the store after a restart, then queues every unfinished image.
    func recover() async throws {
        var reopened = Set<Int64>()
        for blob in try await database.presentBlobs() where store.size(of: blob.digest) != blob.size {
            logger.warning("blob recorded present is missing from the store; it will be fetched again", metadata: ["digest": "\(blob.digest)"])
            try await database.setBlobState(blob.digest, .missing)
            for image in try await database.images() where image.state == .present {
                let uses = try await database.blobs(ofImage: image.id!).contains { $0.digest == blob.digest }
                if uses, reopened.insert(image.id!).inserted {
                    _ = try await database.requestImage(try ImageReference(parsing: image.reference), platform: try Platform(parsing: image.platform))
                }
            }
        }
        let partials = store.partialIngests()
        if !partials.isEmpty {
            logger.info("found partial downloads to resume", metadata: ["count": "\(partials.count)"])
        }
        for image in try await database.unfinishedImages() {
            logger.info("resuming unfinished fetch", metadata: ["image": "\(image.reference)", "state": "\(image.state.rawValue)"])
            enqueue.yield(image.id!)
        }
    }

    private func runWorker() async throws {
        try await withThrowingDiscardingTaskGroup { group in
            for await id in queue.cancelOnGracefulShutdown() {
                let claimed = running.withLock { $0.insert(id).inserted }
                guard claimed else { continue }
                group.addTask {
                    defer { _ = self.running.withLock { $0.remove(id) } }
                    // An image asked for again while its last run was still finishing blobs
                    // (after it had failed) runs again now, instead of waiting for a restart.
                    while !Task.isCancelled {
                        await self.fetchImage(id: id)
                        guard let image = try? await self.database.image(id: id), image.state == .pending else { break }
                    }
                }
            }
            group.cancelAll()
        }
    }

    /// Every 2 s: install deadlines and load slots (``InstallCoordinator/tick(now:)``), and the
    /// tracker forgets what unreachable nodes were receiving and serving.
    private func runInstallHousekeeping() async {
        await PeriodicTask(every: .seconds(2), runsAtStart: true) { [self] in
            await installs.tick()
            let now = Date()
            for node in (try? await database.nodes()) ?? []
            where !InstallRules.isReachable(lastSeen: node.lastSeen, now: now, heartbeat: MeshAPI.heartbeatInterval) {
                await tracker.forget(node.name)
            }
        }.run()
    }

    /// Every 2 s: live byte counts to SQLite, so that a restart shows where things were.
    private func runProgressFlusher() async {
        await PeriodicTask(every: .seconds(2)) { [self] in
            try? await database.recordProgress(progress.snapshot())
        }.run()
    }

    /// Resolves and fetches one image; failures are recorded on the image, never thrown.
    func fetchImage(id: Int64) async {
        guard let image = try? await database.image(id: id), !image.state.isFinished else { return }
        var logger = self.logger
        logger[metadataKey: "image"] = "\(image.reference)"
        do {
            let reference = try ImageReference(parsing: image.reference)
            let platform = try Platform(parsing: image.platform)
            let resolver = ImageResolver(client: client)
            let database = self.database
            let resolved = try await resolver.resolve(
                reference, platform: platform,
                cached: { digest in
                    guard let record = try? await database.manifest(digest),
                        let parsed = try? ParsedManifest.decode(record.bytes, contentType: record.mediaType)
                    else { return nil }
                    return FetchedManifest(bytes: Array(record.bytes), digest: record.digest, parsed: parsed)
                },
                logger: logger)
            try await database.recordResolution(
                imageID: id,
                ImageResolution(
                    topDigest: resolved.top.digest, manifestDigest: resolved.manifestDigest, platform: resolved.platform,
                    manifests: resolved.chain.map { ManifestRecord(digest: $0.digest, mediaType: $0.mediaType, bytes: $0.bytes) },
                    blobs: resolved.blobs))
            logger.info("resolved image", metadata: ["manifest": "\(resolved.manifestDigest)", "blobs": "\(resolved.blobs.count)"])
            // The first blob to fail for good fails the image at once. Its other blobs already on
            // their way are finished (each fetched once, kept for a retry) rather than thrown away;
            // a shutdown cancels them, and they resume at the next start.
            let failure = await withTaskGroup(of: (any Error)?.self) { group in
                for descriptor in resolved.blobs {
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
            if try await database.markImagePresent(imageID: id) {
                logger.notice("image fetched", metadata: ["size": "\(resolved.blobs.reduce(0) { $0 + $1.size })"])
                await installs.imageFinished(id, failure: nil)
            } else {
                throw FerryError(.internal, "image \(reference) finished fetching but not every blob is present")
            }
        } catch is CancellationError {
            logger.info("fetch interrupted; it resumes at the next start")
        } catch {
            await recordFailure(error, imageID: id, logger: logger)
        }
    }

    private func recordFailure(_ error: any Error, imageID id: Int64, logger: Logger) async {
        let failure = (error as? FerryError) ?? FerryError(.internal, "\(error)")
        logger.warning("image fetch failed", metadata: ["code": "\(failure.code)", "reason": "\(failure.message)"])
        try? await database.markImageFailed(imageID: id, error: failure)
        await installs.imageFinished(id, failure: failure)
    }
}
