import AsyncHTTPClient
import FerryCore
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// A client of the Docker Engine API over its unix socket: ping and API-version negotiation,
/// image inspect, list and tag, streamed `docker load`, and ``install(_:reader:logger:)``, which
/// puts an image from the caller's content store into the engine sending as little as it can.
///
/// Every versioned call uses the version negotiated by ``ping()`` (done on first use), never a
/// hard-coded one. Each client has its own connection pool: call ``shutdown()`` once when done.
public final class DockerClient: Sendable {
    /// Timeouts and tools.
    public struct Configuration: Sendable {
        /// Limit for short calls (ping, version, inspect, list, tag).
        public var requestTimeout: Duration
        /// Limit for a whole `docker load`, upload and engine-side import included.
        public var loadTimeout: Duration
        /// The newest API version to use; the engine's own maximum if that is lower.
        public var maximumAPIVersion: DockerAPIVersion
        /// The program that decompresses zstd layers for engines older than 23.0; by default
        /// `zstd` from `PATH`.
        public var zstd: ZstdDecompressor?

        public init(
            requestTimeout: Duration = .seconds(60),
            loadTimeout: Duration = .seconds(3600),
            maximumAPIVersion: DockerAPIVersion = .clientMaximum,
            zstd: ZstdDecompressor? = ZstdDecompressor.find()
        ) {
            self.requestTimeout = requestTimeout
            self.loadTimeout = loadTimeout
            self.maximumAPIVersion = maximumAPIVersion
            self.zstd = zstd
        }
    }

    /// The engine's socket path.
    public let socketPath: String
    public let configuration: Configuration
    /// This client's own connection pool, opened on first use, so that a client never used
    /// (or dropped on an error path before its first call) holds nothing to shut down.
    private let pool = Mutex<HTTPClient?>(nil)
    private let engine = Mutex<DockerEngineInfo?>(nil)

    /// `unix://` + the socket path, as `DOCKER_HOST` spells it.
    public var host: String { "unix://\(socketPath)" }

    /// - Parameter host: `unix:///path/docker.sock` or an absolute socket path. Anything else
    ///   (`tcp://`, `ssh://`, a relative path) is ``FerryError/Code/configuration``.
    public init(host: String, configuration: Configuration = .init()) throws(FerryError) {
        self.socketPath = try Self.socketPath(of: host)
        self.configuration = configuration
    }

    /// The connection pool, opened if this client has none.
    var http: HTTPClient {
        pool.withLock { current in
            if let current { return current }
            let client = Self.makeHTTPClient()
            current = client
            return client
        }
    }

    private static func makeHTTPClient() -> HTTPClient {
        var httpConfiguration = HTTPClient.Configuration(
            redirectConfiguration: .disallow,
            timeout: .init(connect: .seconds(5), read: nil),
            decompression: .disabled
        )
        // A missing or refusing socket is reported at once, not retried until a deadline.
        httpConfiguration.connectionPool.retryConnectionEstablishment = false
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: httpConfiguration)
    }

    /// Closes this client's connections. Call it once when done, after the last call has
    /// returned; a call made after it opens a new pool, which needs shutting down again.
    public func shutdown() async throws {
        let client = pool.withLock { current in
            defer { current = nil }
            return current
        }
        try await client?.shutdown()
    }

    /// The socket path named by a `DOCKER_HOST`-style value.
    static func socketPath(of host: String) throws(FerryError) -> String {
        let trimmed = host.trimmingWhitespace()
        var path = trimmed
        if trimmed.hasPrefix("unix://") {
            path = String(trimmed.dropFirst("unix://".count))
        } else if trimmed.contains("://") {
            throw FerryError(
                .configuration,
                "unsupported Docker host '\(trimmed)': Ferry talks to the engine over its unix socket only; use unix:///path/to/docker.sock")
        }
        guard path.hasPrefix("/") else {
            throw FerryError(
                .configuration, "invalid Docker host '\(trimmed)': expected unix:///path/to/docker.sock or an absolute socket path")
        }
        guard path.utf8.count <= 107 else {
            throw FerryError(.configuration, "Docker socket path '\(path)' is longer than the 107 bytes a unix socket path can have")
        }
        return path
    }

    // MARK: Engine state

    /// The engine info, pinging once if this client has not yet.
    func engineInfo(logger: Logger) async throws -> DockerEngineInfo {
        if let info = engine.withLock({ $0 }) { return info }
        return try await ping(logger: logger)
    }

    func remember(_ info: DockerEngineInfo) {
        engine.withLock { $0 = info }
    }

    /// `/vX.Y` + `path`, with the negotiated version.
    func versioned(_ path: String, logger: Logger) async throws -> String {
        let info = try await engineInfo(logger: logger)
        return "/v\(info.apiVersion)\(path)"
    }
}
