import FerryConcurrency
import FerryCore
import FerryDocker
import FerryMesh
import FerryRegistry
import FerryServer
import FerryState
import FerryStore
import FerryTransfer
import Foundation
import Logging
import ServiceLifecycle
import SwiftASN1
import Synchronization
import X509

/// A follower: joins the leader, takes install work, pulls blobs from the mesh into its own
/// verified store, and loads images into its Docker engine, at most `maxParallel` nodes at a
/// time as the leader allows.
///
/// The leader holds the durable record of every install; the follower keeps its credential,
/// its store and a small database. After a restart it asks for its work again and resumes
/// partial blobs with `Range`.
public final class FollowerService: Service, Sendable {
    public let configuration: FollowerConfiguration
    let directory: DataDirectory
    let database: FerryDatabase
    let store: BlobStore
    let docker: DockerClient
    let logger: Logger
    private let directoryLock: DirectoryLock
    let identity: Mutex<NodeIdentity?>
    /// The credential of a `node.json` under this name kept for another leader URL: sent as proof
    /// when the node joins again.
    private let previousCredential: String?
    /// The leader URL of the `node.json` kept, when it is not `--leader`.
    private let previousLeader: String?
    private let boundAddress = Mutex<String?>(nil)
    /// Set once the join token given to a joined node was looked at (``join()`` runs twice at a start).
    private let joinTokenChecked = Latch()
    /// The certificates the leader revoked, from its last heartbeat answer: refused by this node's server.
    let revocations = CertificateRevocations()
    /// The loopback registry's URL, once it listens (with `--containerd-hosts-dir`).
    let localRegistryAddress = Mutex<String?>(nil)
    /// One container switch, restore or recovery at a time on this node (``FollowerRollouts``).
    let switchPermit = AsyncSemaphore(limit: 1)
    /// Recovery attempts of interrupted switches that failed in a row (the engine away).
    let failedRecoveries = Mutex(0)

    /// How long, after SIGTERM, requests other nodes are making may still finish before the
    /// follower closes them: work (downloads, load-slot waits, loads) stops at once regardless.
    public static let shutdownGrace: Duration = .seconds(5)

    /// Called with the server's URL once it listens (a service manager's readiness notice).
    private let onListening: @Sendable (String) -> Void

    /// Opens the data directory and checks the configuration. Joining happens in ``run()``
    /// (or ``join()``), so that a wrong join token is reported before anything else starts.
    public init(configuration: FollowerConfiguration, logger: Logger, listening: @escaping @Sendable (String) -> Void = { _ in }) throws {
        self.onListening = listening
        try configuration.validate()
        self.configuration = configuration
        self.logger = logger
        self.docker = try DockerClient(host: configuration.dockerHost)
        // A node that never joined needs a join token that parses: checked before anything is
        // written, so that a failed first start leaves no data directory behind.
        try DataDirectory.refuseOtherRole(at: configuration.dataDirectory, role: .follower)
        if !FileManager.default.fileExists(atPath: "\(configuration.dataDirectory)/node.json") {
            guard let text = configuration.joinToken, !text.isEmpty else { throw Self.noJoinToken("this node has not joined the leader yet") }
            _ = try JoinToken(parsing: text)
        }
        let directory = try DataDirectory(configuration.dataDirectory, logger: logger)
        self.directory = directory
        self.directoryLock = try directory.lock()
        self.database = try FerryDatabase.open(path: directory.databasePath)
        self.store = try BlobStore(root: directory.storePath, configuration: configuration.store)
        let saved = NodeIdentity.load(from: directory)
        self.identity = Mutex(saved?.leader == configuration.leaderURL ? saved : nil)
        self.previousCredential = saved?.name == configuration.name ? saved?.credential : nil
        self.previousLeader = saved.flatMap { $0.leader == configuration.leaderURL ? nil : $0.leader }
    }

    /// The URL the follower listens on, once it is up.
    public var address: String? { boundAddress.withLock { $0 } }

    /// The node's name as the leader knows it, once joined.
    public var nodeName: String? { identity.withLock { $0?.name } }

    /// Whether the mesh runs over TLS (an `https://` leader).
    var secure: Bool { configuration.leaderURL.hasPrefix("https://") }

    /// The cluster CA this node trusts, once joined over TLS.
    var caFile: String? { secure ? directory.caCertificatePath : nil }

    /// Joins the leader with the join token unless this node already holds a credential.
    ///
    /// Over TLS, the follower first fetches the cluster CA from the leader's handshake and checks
    /// it against the fingerprint in the join token — before the token's secret is sent — then
    /// joins trusting that CA alone, and receives a certificate for a key it made itself.
    @discardableResult
    public func join() async throws -> String {
        if let current = identity.withLock({ $0 }) {
            return try await joinUnderANewCA(current)?.credential ?? current.credential
        }
        guard let text = configuration.joinToken, !text.isEmpty else {
            throw Self.noJoinToken(
                previousCredential != nil
                    ? "this node joined the leader at \(previousLeader ?? "another URL") (node.json), not \(configuration.leaderURL): if --leader is mistyped, give that URL; if the leader moved, joining it needs a join token too (its credential is sent as proof that it is the same node, keeping its name)"
                    : "this node has not joined the leader yet")
        }
        let joined = try await NodeJoin(
            leaderURL: configuration.leaderURL, name: configuration.name, platform: configuration.platform,
            advertisedURL: advertisedURL, directory: directory, previousCredential: previousCredential,
            protocolVersion: configuration.meshProtocol
        ).join(with: try JoinToken(parsing: text))
        identity.withLock { $0 = joined }
        logger.notice("joined the leader", metadata: ["leader": "\(configuration.leaderURL)", "node": "\(joined.name)"])
        return joined.credential
    }

    /// A joined node needs no join token; one given of another cluster CA than its `ca.pem` is
    /// looked at (once a start). When the leader at the node's URL presents that CA and the
    /// node's own CA vouches for it (`ferry leader new-ca`: ``ClusterCA/vouches(_:for:in:now:)``),
    /// the node joins again under it, its credential as proof that its name is its own, and
    /// returns its new identity; before, it ignored the token and every connection to the
    /// leader failed its TLS handshake. A CA its own does not vouch for is refused in one line
    /// (a server that holds an old CA's key cannot move it back). A token whose CA the leader
    /// does not present is stale, and ignored with a warning; so is any token while the leader
    /// cannot be asked.
    private func joinUnderANewCA(_ current: NodeIdentity) async throws -> NodeIdentity? {
        guard secure, !joinTokenChecked.isSet, let text = configuration.joinToken, let token = try? JoinToken(parsing: text),
            let held = try? String(contentsOfFile: directory.caCertificatePath, encoding: .utf8),
            (try? MeshTLS.fingerprint(ofPEM: held)) != token.caFingerprint
        else { return nil }
        joinTokenChecked.set()
        let leader = try NodeAddress(leaderURL: configuration.leaderURL)
        let successor: String
        let chain: [Certificate]
        do {
            chain = try await MeshTLS.presentedChain(host: leader.host, port: leader.port)
            guard let match = chain.first(where: { (try? MeshTLS.fingerprint(of: $0)) == token.caFingerprint }) else {
                logger.warning(
                    "the join token given names another cluster CA than this node's, and the leader does not present it: this node has joined and needs no token, so it is ignored (a stale token: remove it from the follower's configuration)",
                    metadata: ["leader": "\(configuration.leaderURL)"])
                return nil
            }
            successor = try match.serializeAsPEM().pemString
        } catch {
            logger.warning(
                "cannot ask the leader whether it presents the join token's cluster CA, which is not this node's: going on with the node's own; if the leader has a new CA, restart this follower once the leader is up",
                metadata: ["leader": "\(configuration.leaderURL)", "error": "\(TransportProblem(error).map { "\($0)" } ?? "\(error)")"])
            return nil
        }
        guard ClusterCA.vouches(held, for: successor, in: chain) else {
            throw FerryError(
                .configuration,
                "the leader at \(configuration.leaderURL) presents the join token's cluster CA, which this node's CA (\(directory.caCertificatePath)) does not vouch for (it was not made from it with `ferry leader new-ca`): refusing to send this node's credential; to join that cluster, remove \(directory.nodeIdentityPath) first (the content store is kept; if its name is taken there, `ferry nodes remove --force \(current.name)` on that leader)")
        }
        logger.notice(
            "the leader presents the join token's cluster CA, which this node's vouches for: joining again under the new CA, keeping the node's name",
            metadata: ["leader": "\(configuration.leaderURL)", "node": "\(current.name)"])
        let joined = try await NodeJoin(
            leaderURL: configuration.leaderURL, name: current.name, platform: configuration.platform,
            advertisedURL: advertisedURL, directory: directory, previousCredential: current.credential,
            protocolVersion: configuration.meshProtocol, replacingCA: true
        ).join(with: token)
        identity.withLock { $0 = joined }
        logger.notice("joined the leader", metadata: ["leader": "\(configuration.leaderURL)", "node": "\(joined.name)"])
        return joined
    }

    static func noJoinToken(_ why: String) -> FerryError {
        FerryError(
            .configuration,
            "\(why): give a join token with --join-token-file FILE or FERRY_JOIN_TOKEN (`ferry token create` on the leader, or its DATA_DIR/join-token)")
    }

    var advertisedURL: String? {
        if let advertise = configuration.advertiseURL { return advertise }
        let scheme = secure ? "https" : "http"
        if configuration.host == "0.0.0.0" || configuration.host == "::" {
            // Every interface: the unspecified host, for which the leader puts in the address it
            // sees this node's connections come from (NodeAddress.reachable). The port is the
            // one bound (`--listen 0.0.0.0:0` picks one).
            guard let address, let port = try? NodeAddress(parsing: address, allowPlainHTTP: true).port else { return nil }
            return "\(scheme)://\(configuration.host == "::" ? "[::]" : "0.0.0.0"):\(port)"
        }
        guard configuration.port != 0 else { return address }
        return "\(scheme)://\(configuration.host):\(configuration.port)"
    }

    var mesh: MeshClient {
        MeshClient(baseURL: configuration.leaderURL, credential: identity.withLock { $0?.credential ?? "" }, caFile: caFile)
    }

    /// This node's part of rollouts.
    var rollouts: FollowerRollouts {
        FollowerRollouts(database: database, docker: docker, mesh: { [self] in mesh }, permit: switchPermit, logger: logger)
    }

    /// Serves, heartbeats and works until cancelled or shut down gracefully. On graceful shutdown
    /// the work stops at once (every target's task is cancelled: downloads, waits for sources or
    /// load slots, loads into Docker); the server lets requests in flight finish, until the
    /// service group's grace (``shutdownGrace``) cancels it. Either way the run then returns.
    public func run() async throws {
        // The directory is free again once this run is over, even while the service object lives on.
        defer { directoryLock.release() }
        do {
            try await serve()
        } catch let error where Task.isShuttingDownGracefully || Task.isCancelled {
            logger.debug("follower run ended by the shutdown", metadata: ["error": "\(error)"])
        }
        // The operator's log says the stop was clean (a crash or a refusal ends without this line).
        logger.notice("follower stopped")
    }

    private func serve() async throws {
        try await join()
        await rollouts.recoverInterrupted()
        let me = identity.withLock { $0! }
        let credential = me.credential
        let certificate = try secure ? NodeCertificate(directory: directory) : nil
        let transfers = try TransferClient(
            configuration: configuration, credential: credential, nodeName: configuration.name, store: store, mesh: mesh, caFile: caFile,
            identity: certificate.map { certificate in { @Sendable in certificate.clientIdentity } },
            logger: logger)
        // The node's containerd asks its own follower about tags; what this node has no record
        // of, the leader is asked once (it answers only about this node's own images).
        let leaderManifests = LeaderManifestFallback.leaderManifests(transfers, logger: logger)
        let meshBlobs = MeshBlobFallback.meshBlobs(transfers, store: store, logger: logger)
        let servers: FollowerServers
        do {
            servers = try FollowerServers(
                follower: self, identity: me, certificate: certificate, leaderManifests: leaderManifests, meshBlobs: meshBlobs,
                listening: { [self] url in
                    boundAddress.withLock { $0 = url }
                    onListening(url)
                },
                localRegistryListening: { [self] url in
                    localRegistryAddress.withLock { $0 = url }
                    Task { await writeContainerdHosts() }
                })
        } catch {
            await transfers.shutdown()
            throw error
        }
        let recheck = BlobRecheck(store: store, logger: logger) { digest, size in await transfers.fetcher.discarded(digest, size: size) }
        let heartbeat = FollowerHeartbeat(
            mesh: mesh, docker: docker, store: store, revocations: revocations, certificate: certificate, leaderURL: configuration.leaderURL,
            protocolVersion: configuration.meshProtocol, address: { [self] in advertisedURL },
            addressKnown: { [self] in address != nil || configuration.advertiseURL != nil }, recheck: { recheck.ask($0) }, logger: logger)
        try await run(server: servers.main, localRegistry: servers.localRegistry, heartbeat: heartbeat, recheck: recheck, transfers: transfers)
    }

    private func run(
        server: MeshServer, localRegistry: MeshServer?, heartbeat: FollowerHeartbeat, recheck: BlobRecheck, transfers: TransferClient
    ) async throws {
        // The servers stop gracefully (requests in flight get ``shutdownGrace``) on the follower's
        // graceful shutdown, and when its work fails for good (the leader refuses this node): the
        // follower then ends with that error alone, where the servers, cancelled, logged errors of
        // their own ("Waiting on child channel: CancellationError()") before its one line.
        // Both servers as one service: they stop together (a group stops its services one by one).
        var serving = ServiceGroupConfiguration(services: [.init(service: MeshServers(servers: [server, localRegistry].compactMap { $0 }))], logger: logger)
        serving.maximumGracefulShutdownDuration = Self.shutdownGrace
        let servers = ServiceGroup(configuration: serving)
        try await withAsyncCleanup {
            // A server's failure ends the rest at once (thrown out of the group, which cancels it);
            // the work's failure is the one reported, whatever the servers do as they stop.
            let failure: (any Error)? = try await withThrowingTaskGroup(of: (any Error)?.self) { group in
                group.addTask {
                    try await servers.run()
                    return nil
                }
                group.addTask {
                    do {
                        try await self.runWork(heartbeat: heartbeat, recheck: recheck, transfers: transfers)
                        return nil
                    } catch {
                        await servers.triggerGracefulShutdown()
                        return error
                    }
                }
                var failure: (any Error)?
                do {
                    for try await ended in group { failure = failure ?? ended }
                } catch where failure != nil {
                    // The servers failed as they stopped after the work had: the work's error tells why.
                }
                return failure
            }
            if let failure { throw failure }
        } cleanup: {
            await transfers.shutdown()
            try? await docker.shutdown()
        }
    }

    /// Heartbeats, the work on targets, blob rechecks, collection and switch recovery, until one
    /// fails (a heartbeat the leader refuses) or graceful shutdown.
    private func runWork(heartbeat: FollowerHeartbeat, recheck: BlobRecheck, transfers: TransferClient) async throws {
        try await withThrowingDiscardingTaskGroup { group in
            // Heartbeats and work stop at once on graceful shutdown: a heartbeat waiting on a
            // hung engine or leader, a target in any state.
            group.addTask { try await cancelWhenGracefulShutdown { try await heartbeat.run() } }
            group.addTask { await cancelWhenGracefulShutdown { await recheck.run() } }
            let work = FollowerWorkLoop(
                maxConcurrentImages: configuration.maxConcurrentImages, mesh: { [self] in mesh }, rollouts: rollouts, logger: logger
            ) { [self] item in
                await TargetRunner(environment: FollowerTargetEnvironment(follower: self, transfers: transfers, repository: item.repository), item: item).run()
            }
            group.addTask { await cancelWhenGracefulShutdown { await work.run() } }
            group.addTask { await self.runGarbageCollection() }
            // A switch the engine interrupted (it stopped or restarted mid-switch) is finished
            // or undone as soon as the engine answers again, not at the follower's next start.
            group.addTask {
                await PeriodicTask(every: FollowerRollouts.recoveryInterval) { [self] in
                    let recovered = await rollouts.recoverInterrupted(quietly: failedRecoveries.withLock { $0 % 30 != 0 })
                    failedRecoveries.withLock { $0 = recovered ? 0 : $0 + 1 }
                }.run()
            }
        }
    }
}
