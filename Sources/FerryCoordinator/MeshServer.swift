import FerryMesh
import FerryServer
import Foundation
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import NIOCore
import NIOSSL
import ServiceLifecycle

/// The HTTP server of a leader or a follower: its router behind Ferry's request limits, over TLS
/// with the node's certificate chain unless the mesh runs in plain HTTP, its URL written to the
/// data directory (`DIR/address`) once it listens and removed when it stops.
struct MeshServer: Sendable {
    /// A certificate chain (PEM, leaf first) and its key (PEM).
    struct Identity: Sendable {
        var certificates: [String]
        var key: String
        /// The CA (PEM) client certificates may chain to: a follower's, whose peers present their
        /// node certificate with a peer token. Nil: no client certificates asked for.
        var clientCA: String? = nil
        /// Gives the certificate each handshake presents, when it may change while the server
        /// runs (a follower's, renewed in place).
        var current: NIOSSLContextCallback? = nil
    }

    private let app: any ApplicationProtocol
    private let directory: DataDirectory
    /// Whether this server's URL is the node's `DIR/address` (not the loopback registry's).
    private let publishes: Bool
    /// The server's connections, watched by the memory trimmer.
    let connections = ConnectionGauge()
    private let logger: Logger

    /// - Parameters:
    ///   - identity: nil for plain HTTP (`--insecure-mesh`).
    ///   - role: `leader` or `follower`: the server name and the log line.
    ///   - metadata: logged with the "listening" line.
    ///   - publishes: whether the URL goes to `DIR/address` (false for a follower's loopback registry).
    ///   - listening: called with the server's URL once it listens.
    init(
        router: Router<FerryRequestContext>, limits: HTTPLimits, identity: Identity?, host: String, port: Int, directory: DataDirectory,
        role: String, publishes: Bool = true, metadata: Logger.Metadata = [:], logger: Logger, listening: @escaping @Sendable (String) -> Void
    ) throws {
        logger.debug("routes: \(FerryRoutes.list(router).map(\.description).joined(separator: ", "))")
        let server: HTTPServerBuilder
        if let identity {
            server = try .tls(limits.http1(gauge: connections), tlsConfiguration: MeshTLS.serverConfiguration(certificates: identity.certificates, keyPEM: identity.key, clientCA: identity.clientCA, current: identity.current))
        } else {
            server = limits.http1(gauge: connections)
        }
        let scheme = identity == nil ? "http" : "https"
        self.directory = directory
        self.publishes = publishes
        self.logger = logger
        self.app = Application(
            router: router,
            server: server,
            configuration: .init(address: .hostname(host, port: port), serverName: role == "leader" ? "ferry" : "ferry-\(role)"),
            onServerRunning: { channel in
                let bound = channel.localAddress?.port ?? port
                let url = publishes ? directory.publishAddress(scheme: scheme, host: host, port: bound) : "\(scheme)://\(host):\(bound)"
                listening(url)
                logger.notice("\(role) listening", metadata: metadata.merging(["url": "\(url)"]) { $1 })
            },
            logger: logger
        )
    }

    /// Serves until cancelled or shut down gracefully; gives the memory of closed connections
    /// back to the system after bursts (``MemoryTrimmer``).
    func run() async throws {
        defer { if publishes { unlink(directory.addressPath) } }
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { [connections, logger] in await MemoryTrimmer(gauge: connections, logger: logger).run() }
            try await app.run()
            group.cancelAll()
        }
    }
}

/// Servers that run, and stop on graceful shutdown, together: a follower's mesh server and its
/// local registry.
struct MeshServers: Service {
    let servers: [MeshServer]

    func run() async throws {
        try await withThrowingDiscardingTaskGroup { group in
            for server in servers { group.addTask { try await server.run() } }
        }
    }
}
