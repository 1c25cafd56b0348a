import FerryCore
import FerryFormats
import Foundation
import Logging
import NIOSSL
import PostgresNIO
import ServiceLifecycle

/// The proxy's state in PostgreSQL (`--database postgres://…`), shared by several replicas behind
/// a load balancer: the same tables as ``ProxyDatabase`` plus `secrets` (the token key and admin
/// token every replica uses). A `PostgresClient` (a pool) that must run as a service: ``run()``.
/// Every query is parameterised; nothing is cached, so every replica sees a revoke on its next request.
public final class ProxyPostgresDatabase: ProxyStore, Service {
    let client: PostgresClient
    let logger: Logger
    public let url: ProxyDatabaseURL
    /// The token key and admin token of every replica (see ``ProxySharedSecrets``).
    public let secrets: ProxySharedSecrets

    /// How long connecting and migrating at start may take before the proxy gives up.
    public static let startTimeout: Duration = .seconds(15)
    /// How long one query (with waiting for a connection) may take: past it the request fails with
    /// `503 BUSY`. The pool keeps retrying a lost server; without this a request would wait for it.
    public static let queryTimeout: Duration = .seconds(10)

    private init(client: PostgresClient, url: ProxyDatabaseURL, secrets: ProxySharedSecrets, logger: Logger) {
        self.client = client
        self.url = url
        self.secrets = secrets
        self.logger = logger
    }

    /// Connects once (failing within ``startTimeout`` with a one-line error that names the server
    /// but not the password), applies the migrations, stores `proposing` as the shared secrets
    /// unless a replica did first, and returns the store; ``run()`` it before use.
    public static func connect(
        _ url: ProxyDatabaseURL, proposing: ProxySharedSecrets, logger: Logger
    ) async throws(FerryError) -> ProxyPostgresDatabase {
        let logger = driverLogger(logger, url: url)
        let secrets: ProxySharedSecrets
        do {
            secrets = try await withStartTimeout(url) {
                let connection = try await PostgresConnection.connect(configuration: try connectionConfiguration(url), id: 1, logger: logger)
                do {
                    try await migrate(connection, logger: logger)
                    let secrets = try await sharedSecrets(connection, proposing: proposing, logger: logger)
                    try await connection.close()
                    return secrets
                } catch {
                    try? await connection.close()
                    throw error
                }
            }
        } catch let error as FerryError {
            throw error
        } catch {
            throw FerryError(.configuration, "cannot use the proxy database \(url.redacted): \(describe(error))")
        }
        var configuration = PostgresClient.Configuration(
            host: url.host, port: url.port, username: url.user, password: url.password, database: url.database, tls: clientTLS(url))
        if let socket = url.socketDirectory {
            configuration = PostgresClient.Configuration(
                unixSocketPath: "\(socket)/.s.PGSQL.\(url.port)", username: url.user, password: url.password, database: url.database)
        }
        configuration.options.connectTimeout = .seconds(10)
        let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        logger.notice("proxy database connected")
        return ProxyPostgresDatabase(client: client, url: url, secrets: secrets, logger: logger)
    }

    /// The logger PostgresNIO gets, at `info` or above whatever the proxy's level: at `debug` and
    /// `trace` it logs the rows and messages it exchanges (the shared secrets among them).
    static func driverLogger(_ logger: Logger, url: ProxyDatabaseURL) -> Logger {
        var quiet = logger
        quiet.logLevel = max(logger.logLevel, .info)
        quiet[metadataKey: "database"] = "\(url.redacted)"
        return quiet
    }

    /// Runs the connection pool until a graceful shutdown (after the HTTP server stopped).
    public func run() async throws {
        await client.run()
    }

    static func connectionConfiguration(_ url: ProxyDatabaseURL) throws -> PostgresConnection.Configuration {
        var configuration: PostgresConnection.Configuration
        if let socket = url.socketDirectory {
            configuration = .init(unixSocketPath: "\(socket)/.s.PGSQL.\(url.port)", username: url.user, password: url.password, database: url.database)
        } else {
            let tls: PostgresConnection.Configuration.TLS
            switch url.tls {
            case .disable: tls = .disable
            case .prefer: tls = .prefer(try NIOSSLContext(configuration: tlsConfiguration(url)))
            case .require: tls = .require(try NIOSSLContext(configuration: tlsConfiguration(url)))
            }
            configuration = .init(host: url.host, port: url.port, username: url.user, password: url.password, database: url.database, tls: tls)
        }
        configuration.options.connectTimeout = .seconds(10)
        return configuration
    }

    static func clientTLS(_ url: ProxyDatabaseURL) -> PostgresClient.Configuration.TLS {
        switch url.tls {
        case .disable: .disable
        case .prefer: .prefer(tlsConfiguration(url))
        case .require: .require(tlsConfiguration(url))
        }
    }

    /// The server's certificate and name are verified, against `sslrootcert` if the URL gives one.
    static func tlsConfiguration(_ url: ProxyDatabaseURL) -> TLSConfiguration {
        var tls = TLSConfiguration.makeClientConfiguration()
        if let roots = url.rootCertificates { tls.trustRoots = .file(roots) }
        return tls
    }

    /// Stores `proposing` unless the secrets are there already, and returns the stored ones.
    static func sharedSecrets(_ connection: PostgresConnection, proposing: ProxySharedSecrets, logger: Logger) async throws -> ProxySharedSecrets {
        try await connection.query(
            """
            INSERT INTO secrets (name, value) VALUES ('token-key', \(proposing.tokenKeyHex)), ('admin-token', \(proposing.adminToken))
            ON CONFLICT DO NOTHING
            """, logger: logger)
        var values: [String: String] = [:]
        for try await (name, value) in try await connection.query("SELECT name, value FROM secrets", logger: logger).decode((String, String).self) {
            values[name] = value
        }
        guard let secrets = ProxySharedSecrets(tokenKeyHex: values["token-key"] ?? "", adminToken: values["admin-token"] ?? "") else {
            throw FerryError(.configuration, "the proxy database holds no valid token key or admin token (table secrets)")
        }
        return secrets
    }

    static func withStartTimeout<T: Sendable>(_ url: ProxyDatabaseURL, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        guard let result = try await within(startTimeout, body) else {
            throw FerryError(.configuration, "cannot use the proxy database \(url.redacted): no answer within \(startTimeout); check the host and port")
        }
        return result
    }

    /// `body`'s result, or nil once `limit` passed (`body` is then cancelled).
    static func within<T: Sendable>(_ limit: Duration, _ body: @escaping @Sendable () async throws -> T) async throws -> T? {
        try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await body() }
            group.addTask {
                try await Task.sleep(for: limit)
                return nil
            }
            defer { group.cancelAll() }
            return try await group.next() ?? nil
        }
    }

    /// What went wrong, in a line: the server's message (e.g. a failed password), or the
    /// connection's error; PostgresNIO's own descriptions hide everything.
    static func describe(_ error: any Error) -> String {
        if let error = error as? PSQLError {
            if error.code == .sslUnsupported {
                return "the server does not offer TLS (sslmode=require); turn ssl on in the server, or use sslmode=prefer or disable"
            }
            if let underlying = error.underlying as? NIOSSLError {
                return "the TLS handshake failed (\(underlying)); is the server's certificate for this host, and its CA the system's or sslrootcert's?"
            }
            if let message = error.serverInfo?[.message] {
                return message + (error.serverInfo?[.sqlState].map { " (SQLSTATE \($0))" } ?? "")
            }
            if let underlying = error.underlying { return "\(underlying)" }
            return "\(error.code)"
        }
        return "\(error)"
    }

    /// Runs `body`, turning PostgresNIO's errors into a `FerryError` that says which server failed.
    func run<T>(_ what: String, _ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as FerryError where error.code != .busy {
            throw error
        } catch {
            // The details stay in the vendor's log; a customer learns only that the proxy is unavailable.
            // A load balancer's readiness probe asks every few seconds: its failures at debug (the
            // requests that fail meanwhile say it at error level).
            logger.log(
                level: what == "readiness" ? .debug : .error, "proxy database query failed",
                metadata: ["query": "\(what)", "error": "\(Self.describe(error))"])
            throw FerryError(.busy, "the proxy's database is unavailable; try again later")
        }
    }

    /// The rows of `query`, all read, within `timeout`.
    func rows(_ what: String, _ query: PostgresQuery, timeout: Duration = queryTimeout) async throws -> [PostgresRow] {
        try await run(what) {
            let (client, logger) = (self.client, self.logger)
            guard let rows = try await Self.within(timeout, { try await client.query(query, logger: logger).collect() }) else {
                throw FerryError(.busy, "no answer from the database within \(timeout)")
            }
            return rows
        }
    }

    /// How long `GET /readyz` waits for the server (a connection included) before it answers
    /// `503`: shorter than a load balancer's usual health-check timeout.
    public static let readinessTimeout: Duration = .seconds(2)

    public func checkAvailable() async throws {
        _ = try await rows("readiness", "SELECT 1", timeout: Self.readinessTimeout)
    }
}
