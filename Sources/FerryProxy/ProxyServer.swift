import Crypto
import FerryCore
import FerryFormats
import FerryMesh
import FerryRegistry
import FerryServer
import FerryState
import FerryStore
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import Metrics
import NIOCore
import Prometheus
import ServiceLifecycle
import UnixSignals

#if canImport(Glibc)
import Glibc
#endif

/// The files of a proxy's data directory: `proxy.sqlite`, `store/` (the content store),
/// `token-key` (the HMAC key of issued tokens, 0600), `address` (its URL while it runs), and with
/// `--database` `database` (the PostgreSQL server's URL without its password).
public struct ProxyDirectory: Sendable {
    public let path: String

    /// Creates the directory (0700) or takes an existing one: refused when another user owns it
    /// (its files could be replaced under the proxy: the token key, the database), tightened to
    /// 0700 when group or others may enter it.
    public init(_ path: String) throws(FerryError) {
        self.path = path
        try DataDirectoryRole.refuseOther(at: path, role: .proxy)
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw FerryError(.configuration, "cannot create the proxy's data directory '\(path)': \(error.localizedDescription)")
        }
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path),
            let owner = (attributes[.ownerAccountID] as? NSNumber)?.uint32Value,
            let permissions = (attributes[.posixPermissions] as? NSNumber)?.uint32Value
        else {
            throw FerryError(.configuration, "cannot read the proxy's data directory '\(path)'")
        }
        guard owner == geteuid() else {
            throw FerryError(
                .configuration,
                "the proxy's data directory '\(path)' belongs to another user (uid \(owner)), not to this one (uid \(geteuid())): run the proxy as that user, give the directory to this one (chown -R), or choose another --data-dir")
        }
        if permissions & 0o077 != 0, chmod(path, 0o700) != 0 {
            throw FerryError(.configuration, "cannot restrict the permissions of '\(path)': \(String(cString: strerror(errno)))")
        }
    }

    /// Writes a secret file (``PrivateFile``: 0600 from its creation); whether it was written.
    static func writeSecret(_ data: Data, to file: String) -> Bool {
        (try? PrivateFile.write(Array(data), to: file)) != nil
    }

    public var databasePath: String { path + "/proxy.sqlite" }
    public var storePath: String { path + "/store" }
    public var addressPath: String { path + "/address" }
    /// Present when the proxy keeps its state in PostgreSQL: the URL without its password.
    public var databaseMarkerPath: String { path + "/database" }

    /// The admin token (`DIR/admin-token`, 0600), created on first use: `/metrics` and management.
    public func adminToken() throws(FerryError) -> String {
        let file = path + "/admin-token"
        if let data = FileManager.default.contents(atPath: file), let text = String(data: data, encoding: .utf8),
            !text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty
        {
            return text.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        let token = "ferryadm_" + SymmetricKey(size: .bits256).withUnsafeBytes { Data($0) }.map { String(format: "%02x", $0) }.joined()
        guard Self.writeSecret(Data((token + "\n").utf8), to: file) else {
            throw FerryError(.configuration, "cannot write the admin token in '\(path)'")
        }
        return token
    }

    public func openDatabase() throws(FerryError) -> ProxyDatabase { try ProxyDatabase.open(path: databasePath) }

    /// Replaces the token key and admin token with the ones shared by every replica (0600).
    public func storeSharedSecrets(tokenKey: SymmetricKey, adminToken: String) throws(FerryError) {
        for (name, data) in [("token-key", tokenKey.withUnsafeBytes { Data($0) }), ("admin-token", Data((adminToken + "\n").utf8))] {
            let file = path + "/" + name
            guard Self.writeSecret(data, to: file) else {
                throw FerryError(.configuration, "cannot write the \(name) in '\(path)'")
            }
        }
    }

    /// The token key, created (32 random bytes, 0600) on first use.
    public func tokenKey() throws(FerryError) -> SymmetricKey {
        let file = path + "/token-key"
        if let data = FileManager.default.contents(atPath: file), data.count == 32 { return SymmetricKey(data: data) }
        let key = SymmetricKey(size: .bits256)
        let data = key.withUnsafeBytes { Data($0) }
        guard Self.writeSecret(data, to: file) else {
            let problem = PathAccess.problem(path, writing: true) ?? "the file cannot be created"
            throw FerryError(.configuration, "cannot write the token key in '\(path)': \(problem)")
        }
        return key
    }
}

/// Everything `ferry proxy serve` is given.
public struct ProxyServerOptions: Sendable {
    public var directory: ProxyDirectory
    public var host: String
    public var port: Int
    /// PEM certificate chain and key; nil: plain HTTP.
    public var tlsCertificate: String?
    public var tlsKey: String?
    public var configuration: ProxyConfiguration
    public var registry: RegistryClientConfiguration
    public var credentials: RegistryCredentials
    /// The PostgreSQL server holding the state; nil: SQLite in the data directory.
    public var database: ProxyDatabaseURL?

    public init(
        directory: ProxyDirectory, host: String, port: Int, tlsCertificate: String? = nil, tlsKey: String? = nil, configuration: ProxyConfiguration = .init(),
        registry: RegistryClientConfiguration = .init(), credentials: RegistryCredentials = .init(), database: ProxyDatabaseURL? = nil
    ) {
        self.database = database
        self.directory = directory
        self.host = host
        self.port = port
        self.tlsCertificate = tlsCertificate
        self.tlsKey = tlsKey
        self.configuration = configuration
        self.registry = registry
        self.credentials = credentials
    }
}

/// `ferry proxy serve`: the registry API over the upstreams, until cancelled.
public enum ProxyServer {
    /// The proxy's router: `/healthz` and `/readyz` (open), the registry API and `/token` (licences), the
    /// management API and `/metrics` (the admin token).
    static func router(
        api: ProxyAPI, database: any ProxyStore, adminToken: String, metrics: @escaping @Sendable () -> [UInt8]
    ) -> Router<FerryRequestContext> {
        let router = Router(context: FerryRequestContext.self)
        router.add(
            middleware: ProxyErrorMiddleware { request in
                if ProxyAuthenticator.presentsAdminToken(request, adminToken) { return }
                _ = try await api.authenticator.caller(request, repository: nil)
            } refused: { refusal, context in
                api.authFailures.record(refusal, client: context.channel?.remoteAddress?.ipAddress)
            })
        router.get("/healthz") { _, _ in "ok\n" }
        // Readiness for a load balancer: this replica can reach its database (every licence
        // check needs it). Open, like /healthz; 503 BUSY, without detail, when it cannot.
        router.get("/readyz") { _, _ -> String in
            try await database.checkAvailable()
            return "ready\n"
        }
        api.addRoutes(to: router)
        ProxyAdminAPI(management: LocalProxyManagement(database: database), adminToken: adminToken).addRoutes(to: router)
        router.get("/metrics") { request, _ -> Response in
            guard ProxyAuthenticator.presentsAdminToken(request, adminToken) else {
                throw ProxyError(FerryError(.unauthorized, "metrics need the proxy's admin token"), challenge: #"Bearer realm="ferry-proxy-admin""#)
            }
            var headers = HTTPFields()
            headers[.contentType] = "text/plain; version=0.0.4"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: metrics())))
        }
        return router
    }

    /// Every route the proxy serves, from its router built over an empty in-memory database and a
    /// scratch store (removed before returning): `ferry routes` and the route-enumeration test.
    public static func routes() async throws -> [FerryRoutes.Route] {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("ferry-proxy-routes-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let database = try ProxyDatabase.inMemory()
        let quiet = Logger(label: "ferry.proxy.routes", factory: { _ in SwiftLogNoOpLogHandler() })
        let client = try RegistryClient()
        let configuration = ProxyConfiguration()
        let upstream = ProxyUpstream(client: client, store: try BlobStore(root: scratch), database: database, configuration: configuration, logger: quiet)
        let api = ProxyAPI(database: database, key: SymmetricKey(size: .bits256), upstream: upstream, configuration: configuration, logger: quiet)
        let routes = FerryRoutes.list(Self.router(api: api, database: database, adminToken: UUID().uuidString) { [] })
        try await client.shutdown()
        return routes
    }

    /// How long a stopping proxy lets blob streams under way finish (SIGTERM) before it cuts
    /// them (``ProxyStopping``) and exits: the listener is closed meanwhile, so a replacement can
    /// start only then (a download at a licence's `--max-rate` could take minutes, past a service
    /// manager's stop timeout). A customer's leader resumes a cut download with `Range`.
    public static let shutdownGrace: Duration = .seconds(10)

    /// Sets the counters without labels, and the per-app ones of `apps`, to 0.
    static func registerCounters(apps: [String]) {
        Counter(label: "ferry_proxy_stale_answers_total").increment(by: 0)
        for app in apps {
            Counter(label: "ferry_proxy_bytes_total", dimensions: [("app", app)]).increment(by: 0)
            Counter(label: "ferry_proxy_digest_mismatches_total", dimensions: [("app", app)]).increment(by: 0)
        }
    }

    /// Serves until cancelled or SIGTERM/SIGINT; `listening` gets the URL once the socket is bound
    /// (also written to `DIR/address`). `services` run beside the server and hear of a graceful
    /// shutdown before it (e.g. the systemd `STOPPING=1` notice).
    public static func run(
        _ options: ProxyServerOptions, logger: Logger, listening: @escaping @Sendable (String) -> Void = { _ in }, services: [any Service] = []
    ) async throws {
        let directory = options.directory
        // One proxy per directory: a second would share its store's ingests and remove its address file.
        let lock = try DirectoryLock.acquire(in: directory.path)
        defer { lock.release() }
        var key = try directory.tokenKey()
        var adminToken = try directory.adminToken()
        let database: any ProxyStore
        var databaseServices: [any Service] = []
        if let url = options.database {
            let postgres = try await ProxyPostgresDatabase.connect(
                url, proposing: ProxySharedSecrets(tokenKey: key, adminToken: adminToken), logger: logger)
            databaseServices = [postgres]
            database = postgres
            (key, adminToken) = (postgres.secrets.tokenKey, postgres.secrets.adminToken)
            try directory.storeSharedSecrets(tokenKey: key, adminToken: adminToken)
            _ = ProxyDirectory.writeSecret(Data((url.redacted + "\n").utf8), to: directory.databaseMarkerPath)
        } else {
            database = try directory.openDatabase()
            unlink(directory.databaseMarkerPath)
        }
        let store = try BlobStore(root: options.directory.storePath)
        let client = try RegistryClient(configuration: options.registry, credentials: options.credentials)
        let configuration = {
            var configuration = options.configuration
            configuration.tls = options.tlsCertificate != nil
            return configuration
        }()
        let upstream = ProxyUpstream(client: client, store: store, database: database, configuration: configuration, logger: logger)
        let api = ProxyAPI(database: database, key: key, upstream: upstream, configuration: configuration, logger: logger)
        let metrics = MetricsExport.bootstrap()
        let router = Self.router(api: api, database: database, adminToken: adminToken) { metrics.emitToBuffer() }
        // No cap per client address: a proxy usually sits behind a load balancer, whose one
        // address every customer's connections would share (cap there instead).
        let limits = HTTPLimits(sendTimeout: configuration.sendTimeout, maxConnectionsPerClient: 0)
        let server: HTTPServerBuilder
        if let certificate = options.tlsCertificate, let keyFile = options.tlsKey {
            guard let chain = try? String(contentsOfFile: certificate, encoding: .utf8), let keyPEM = try? String(contentsOfFile: keyFile, encoding: .utf8) else {
                throw FerryError(.configuration, "cannot read --tls-cert '\(certificate)' or --tls-key '\(keyFile)'")
            }
            let certificates = chain.components(separatedBy: "-----END CERTIFICATE-----").filter { $0.contains("BEGIN CERTIFICATE") }
                .map { $0 + "-----END CERTIFICATE-----\n" }
            server = try .tls(limits.http1(), tlsConfiguration: MeshTLS.serverConfiguration(certificates: certificates, keyPEM: keyPEM))
        } else {
            server = limits.http1()
        }
        let scheme = options.tlsCertificate == nil ? "http" : "https"
        let addressPath = options.directory.addressPath
        let app = Application(
            router: router, server: server,
            configuration: .init(address: .hostname(options.host, port: options.port), serverName: "ferry-proxy"),
            onServerRunning: { channel in
                // Exported at 0 from the start, so an alert on a rate sees the series before the
                // first event. Once running: a PostgreSQL pool serves only then.
                Task { Self.registerCounters(apps: (try? await database.apps().map(\.name)) ?? []) }
                let port = channel.localAddress?.port ?? options.port
                let url = NodeAddress.localURL(scheme: scheme, host: options.host, port: port)
                _ = ProxyDirectory.writeSecret(Data((url + "\n").utf8), to: addressPath)
                logger.notice("proxy listening", metadata: ["url": "\(url)", "cache": "\(configuration.cache)"])
                listening(url)
            },
            logger: logger)
        defer { unlink(addressPath) }
        // Shutdown goes from the last service to the first: the extra services hear of it first, the
        // database pool (first) stops only after the server has finished its requests.
        var groupConfiguration = ServiceGroupConfiguration(
            services: databaseServices.map { ServiceGroupConfiguration.ServiceConfiguration(service: $0) }
                + [ServiceGroupConfiguration.ServiceConfiguration(service: app)]
                + ([StreamQueueCloser(streams: api.streams, stopping: api.stopping)] + services).map {
                    ServiceGroupConfiguration.ServiceConfiguration(service: $0, successTerminationBehavior: .ignore)
                },
            gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        // A backstop only: blob streams are cut at the grace (StreamQueueCloser), so that they
        // end audited; what still runs past this is cancelled, the database with it.
        groupConfiguration.maximumGracefulShutdownDuration = shutdownGrace * 2 + .seconds(5)
        do {
            try await ServiceGroup(configuration: groupConfiguration).run()
        } catch {
            try? await client.shutdown()
            throw error
        }
        try? await client.shutdown()
    }
}

/// Sends the blob requests waiting for a licence's stream slot away (`503`) when a graceful
/// shutdown starts, before the server waits for its requests in flight: a waiting request would
/// otherwise hold the stop up to `--max-stream-wait`, and start a new stream when it got its turn.
struct StreamQueueCloser: Service {
    let streams: StreamCounter
    let stopping: ProxyStopping

    func run() async throws {
        try? await gracefulShutdown()
        streams.close()
        // The blob streams still running after the grace are cut (each ends audited); the
        // server's own shutdown is not held meanwhile.
        let stopping = stopping
        Task {
            try? await Task.sleep(for: ProxyServer.shutdownGrace)
            stopping.cut()
        }
    }
}
