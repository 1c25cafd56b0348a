import AsyncHTTPClient
import Crypto
import FerryConcurrency
import FerryCore
import FerryDiagnostics
import FerryMesh
import FerryPolicy
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
    /// Long polls wait on the database's change signal (notified as changes commit).
    var signal: ChangeSignal { database.changes }
    let credentials: LeaderCredentials
    let peerKey: Curve25519.Signing.PrivateKey
    let tracker: Tracker
    let ca: ClusterCA
    let installs: InstallCoordinator
    let rollouts: RolloutCoordinator
    let fetches: FetchWorker


    /// Blobs being fetched from upstream right now.
    public var activeDownloads: [FerryCore.Digest] { get async { await fetcher.active } }
    private let boundAddress = Mutex<String?>(nil)
    private let directoryLock: DirectoryLock

    /// Called with the server's URL once it listens (a service manager's readiness notice).
    private let onListening: @Sendable (String) -> Void

    public init(configuration: LeaderConfiguration, logger: Logger, listening: @escaping @Sendable (String) -> Void = { _ in }) throws {
        self.onListening = listening
        self.configuration = configuration
        self.logger = logger
        // Check what the operator gave before touching the data directory.
        let credentials = try configuration.registryAuthFile.map { file throws(FerryError) in try RegistryCredentials(contentsOf: file) } ?? .init()
        if let file = configuration.registryAuthFile, let notice = PathAccess.openSecretNotice(file, what: "upstream credentials") {
            // A warning, not a refusal (as the proxy's --upstream-auth): a file earlier releases accepted keeps working.
            logger.warning("\(notice)")
        }
        // Read before anything is written: a CA file that cannot be read leaves no directory behind.
        _ = try configuration.registry.tlsConfiguration()
        let directory = try DataDirectory(configuration.dataDirectory, role: .leader, logger: logger)
        self.directory = directory
        self.directoryLock = try directory.lock()
        // The database first: a directory with a CA always has one (``DataDirectory/refuseOtherRole(at:role:)``).
        self.database = try FerryDatabase.open(path: directory.databasePath)
        let admin = try directory.secret(at: directory.adminTokenPath)
        let ca = try ClusterCA.loadOrCreate(in: directory)
        self.ca = ca
        let join = try directory.joinToken(fingerprint: ca.fingerprint)
        self.adminToken = admin.token
        self.joinToken = join.token
        if admin.created || join.created {
            logger.notice(
                "created leader tokens",
                metadata: [
                    "admin_token_file": "\(directory.adminTokenPath)", "join_token_file": "\(directory.joinTokenPath)",
                    "ca_file": "\(directory.caCertificatePath)", "ca_fingerprint": "\(ca.fingerprint)",
                ])
        }
        self.store = try BlobStore(root: directory.storePath, configuration: configuration.store)
        self.client = try RegistryClient(configuration: configuration.registry, credentials: credentials)
        self.credentials = LeaderCredentials(adminToken: admin.token, caFingerprint: ca.fingerprint, database: database)
        self.peerKey = try directory.peerSigningKey()
        self.tracker = Tracker(selector: configuration.sources, logger: logger)
        MetricsExport.bootstrap()
        FerryMetrics.registerLeaderCounters()
        self.fetcher = BlobFetcher(
            client: client, store: store, database: database, progress: progress,
            downloadsPerRegistry: configuration.maxConcurrentDownloadsPerRegistry,
            serialDownloadSize: configuration.serialDownloadSize, blobConnections: configuration.blobConnections, logger: logger)
        let queue = AsyncStream.makeStream(of: Int64.self)
        let installs = InstallCoordinator(
            database: database, logger: logger, fetch: { id in queue.continuation.yield(id) }, loadSlotLease: configuration.loadSlotLease)
        self.installs = installs
        self.rollouts = RolloutCoordinator(database: database, installs: installs, logger: logger)
        self.fetches = FetchWorker(
            queue: queue, database: database, store: store, client: client, fetcher: fetcher, installs: installs, logger: logger)
    }

    /// The URL the server listens on, once it is up.
    public var address: String? { boundAddress.withLock { $0 } }

    public func run() async throws {
        // The directory is free again once this run is over, even while the service object lives on.
        defer { directoryLock.release() }
        try await adoptJoinTokenFile()
        let router = buildFerryRouter(
            verifier: credentials,
            registry: RegistryReadAPI(
                database: database, store: store, defaultRegistry: configuration.defaultRegistry,
                uploadLimiter: configuration.maxUploadRate.map { RateLimiter(bytesPerSecond: $0) }, nodeReads: .ownImages),
            apis: .leader(
                admin: AdminRoutes(
                    backend: LeaderAdmin(
                        database: database, fetches: fetches, installs: installs, rollouts: rollouts, progress: progress, tracker: tracker,
                        garbageCollector: garbageCollector, platform: configuration.platform, credentials: credentials,
                        caFingerprint: ca.fingerprint, caExpiresAt: ca.expiresAt, logger: logger)),
                mesh: MeshRoutes(
                    backend: LeaderMesh(
                        database: database, store: store, fetcher: fetcher, tracker: tracker, progress: progress, installs: installs,
                        rollouts: rollouts, credentials: credentials, ca: ca,
                        peerKey: peerKey, insecureMesh: configuration.insecureMesh,
                        certificateValidity: TimeInterval(configuration.nodeCertificateValidity.components.seconds), logger: logger))))
        warnIfCAExpiresSoon()
        var identity: MeshServer.Identity?
        if !configuration.insecureMesh {
            let names = [ProcessInfo.processInfo.hostName, configuration.host] + configuration.tlsNames
            // A certificate from before the leader's reserved name is replaced: followers require the
            // name. So is one with less than a third of its life left, and one of an earlier CA.
            let tls = try directory.tlsIdentity(isCurrent: { pem in
                ca.issued(pem) && (try? MeshTLS.alternativeNames(ofPEM: pem).contains(NodeAddress.leaderName)) == true
                    && ((try? MeshTLS.serialAndExpiry(ofPEM: pem).expiresAt.timeIntervalSinceNow) ?? 0) > ClusterCA.leafLifetime / 3
            }) { publicKey in
                try ca.issue(publicKeyPEM: publicKey, for: .leader(names: names.filter { $0 != "0.0.0.0" && $0 != "::" }))
            }
            // After `ferry leader new-ca`: the old CA's certificate for this one, so that nodes of
            // the old CA can tell this one is their cluster's next (``ClusterCA/vouches(_:for:in:now:)``).
            let vouch = (try? String(contentsOfFile: directory.caVouchPath, encoding: .utf8)).flatMap { ca.isVouchedFor(by: $0) ? $0 : nil }
            identity = MeshServer.Identity(certificates: [tls.certificate, ca.certificatePEM] + (vouch.map { [$0] } ?? []), key: tls.key)
        }
        let server = try MeshServer(
            router: router, limits: configuration.http, identity: identity, host: configuration.host, port: configuration.port,
            directory: directory, role: "leader", metadata: ["data_dir": "\(directory.path)"], logger: logger,
            listening: { [self] url in
                boundAddress.withLock { $0 = url }
                onListening(url)
            })
        try await withAsyncCleanup {
            try await fetches.recover()
            try await rollouts.recover()
            await installs.pauseLeasesAtStart()
            try await withGracefulShutdownHandler {
                try await withThrowingDiscardingTaskGroup { group in
                    group.addTask { try await server.run() }
                    group.addTask { try await self.fetches.run() }
                    group.addTask { await self.runProgressFlusher() }
                    group.addTask { await self.runInstallHousekeeping() }
                    group.addTask { await self.runGarbageCollection() }
                    group.addTask { await self.rollouts.run() }
                }
            } onGracefulShutdown: {
                self.logger.notice("leader stopping: finishing the requests in flight")
                // Long polls answer now, so that the server can drain its connections.
                self.signal.close()
            }
        } cleanup: {
            // Downloads first (they use the client, the store and the database), then the client.
            await fetcher.shutdown()
            try? await client.shutdown()
        }
        logger.notice("leader stopped")
    }

    /// Every 2 s: install deadlines and load slots (``InstallCoordinator/tick(now:)``), the
    /// tracker forgets what unreachable nodes were receiving and serving, and the nodes'
    /// certificate expiry gauges (a silent node's keeps falling; a removed node's goes).
    private func runInstallHousekeeping() async {
        await PeriodicTask(every: .seconds(2), runsAtStart: true) { [self] in
            await installs.tick()
            let now = Date()
            guard let nodes = try? await database.nodes() else { return }
            for node in nodes where !InstallRules.isReachable(lastSeen: node.lastSeen, now: now, heartbeat: MeshAPI.heartbeatInterval) {
                await tracker.forget(node.name)
            }
            FerryMetrics.setNodeCertificateExpiries(
                Dictionary(nodes.compactMap { node in node.certificateExpiresAt.map { (node.name, $0.timeIntervalSince(now)) } }, uniquingKeysWith: { a, _ in a }))
        }.run()
    }

    /// Every 2 s: live byte counts to SQLite, so that a restart shows where things were.
    private func runProgressFlusher() async {
        await PeriodicTask(every: .seconds(2)) { [self] in
            try? await database.recordProgress(progress.snapshot())
        }.run()
    }
}

extension LeaderService {
    /// Warns, at start, when the cluster CA expires within ``ClusterCA/expiryWarning``: every node
    /// must then join a new cluster CA, `ferry leader new-ca` (`ferry nodes` shows the date too).
    func warnIfCAExpiresSoon(now: Date = Date()) {
        FerryMetrics.setCAExpiry(seconds: ca.expiresAt.timeIntervalSince(now))
        guard ca.expiresAt.timeIntervalSince(now) < ClusterCA.expiryWarning else { return }
        logger.warning(
            "the cluster CA expires within a year: make a new one with `ferry leader new-ca` (the leader stopped), then restart the followers with the new join token",
            metadata: ["expires_at": "\(ca.expiresAt)", "ca_file": "\(directory.caCertificatePath)"])
    }
}
