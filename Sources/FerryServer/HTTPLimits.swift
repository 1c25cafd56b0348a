import Hummingbird
import HummingbirdCore
import NIOCore

/// What every Ferry listener (leader and followers) accepts from a client before it refuses the
/// request. Bodies are capped separately, per route, by ``FerryRequestContext/maxBodySize``.
public struct HTTPLimits: Sendable {
    /// The default idle timeout, named once for the initialiser and `--idle-timeout`.
    public static let defaultIdleTimeout: Duration = .seconds(75)

    /// How long a connection may go without a complete request part: an idle keep-alive
    /// connection, a request whose head never completes, a body that stops arriving. The
    /// connection is then closed. A request being answered (a long poll, a blob download) is
    /// never cut by it (a client that stops reading a download is, by ``sendTimeout``). Longer
    /// than AsyncHTTPClient's 60 s pool idle timeout, so that clients close their idle
    /// connections first and never send on one the server is closing. Default 75 s.
    public var idleTimeout: Duration

    /// The default send timeout, named once for the initialiser and `--send-timeout`.
    public static let defaultSendTimeout: Duration = .seconds(120)

    /// How long a connection with response bytes waiting to be written may go without one write
    /// (at most 256 KiB) reaching the socket (``SendTimeoutHandler``, as nginx's `send_timeout`;
    /// checked every quarter of it): past it the connection is closed. A client that stops
    /// reading is cut; one reading slower than some 10 KiB/s may be too (the kernel's send buffer,
    /// up to 4 MiB, takes more only once about a third of it has drained). Waiting for bytes to
    /// send (a blob still arriving, a long poll) does not count. Default 120 s.
    public var sendTimeout: Duration
    /// The longest request line or header field. Default 16 KiB.
    public var maxHeaderFieldSize: Int
    /// All of a request's head: request line and header fields. Default 64 KiB.
    public var maxHeaderSize: Int
    /// Header fields in one request. Default 100.
    public var maxHeaderCount: Int
    /// The default cap on one client's open connections, named once for the initialiser and
    /// `--max-connections-per-client`.
    public static let defaultMaxConnectionsPerClient = 1024
    /// Connections one client address may hold open at once on a listener; the next is closed
    /// as soon as it is accepted (``ClientConnectionCap``). A follower opens up to about 40 to
    /// its leader at its busiest (two pools of 16, long polls capped at 8), so 1024 leaves room
    /// for some 25 followers behind one NAT address and binds a client opening connections
    /// without end. `0`: no cap. Default 1024.
    public var maxConnectionsPerClient: Int

    public init(
        idleTimeout: Duration = defaultIdleTimeout, sendTimeout: Duration = defaultSendTimeout, maxHeaderFieldSize: Int = 16 * 1024,
        maxHeaderSize: Int = 64 * 1024, maxHeaderCount: Int = 100, maxConnectionsPerClient: Int = defaultMaxConnectionsPerClient
    ) {
        self.idleTimeout = idleTimeout
        self.sendTimeout = sendTimeout
        self.maxHeaderFieldSize = maxHeaderFieldSize
        self.maxHeaderSize = maxHeaderSize
        self.maxHeaderCount = maxHeaderCount
        self.maxConnectionsPerClient = maxConnectionsPerClient
    }

    /// An HTTP/1.1 server with these limits that answers requests the parser cannot read
    /// (oversized head, unknown method, broken framing) with a registry-style error, caps each
    /// client's connections, and counts its connections in `gauge` when given. Each call makes
    /// one listener's cap.
    public func http1(gauge: ConnectionGauge? = nil) -> HTTPServerBuilder {
        let cap = maxConnectionsPerClient > 0 ? ClientConnectionCap(limit: maxConnectionsPerClient) : nil
        let configuration = HTTP1Channel.Configuration(
            additionalChannelHandlers: Self.handlers(cap: cap, gauge: gauge, sendTimeout: TimeAmount(sendTimeout)),
            idleTimeout: TimeAmount(idleTimeout),
            httpDecoderConfiguration: .init(maxHeaderFieldSize: maxHeaderFieldSize, maxHeaderListSize: maxHeaderSize, maxHeaderFieldCount: maxHeaderCount))
        return .http1(configuration: configuration)
    }

    /// One connection's handlers, after the TLS and HTTP codecs (Hummingbird adds them there):
    /// its place under the cap first, so that a refused connection is closed before any byte
    /// of it is read and before the handlers after it see it active.
    private static func handlers(cap: ClientConnectionCap?, gauge: ConnectionGauge?, sendTimeout: TimeAmount) -> [any RemovableChannelHandler] {
        var handlers: [any RemovableChannelHandler] = []
        if let cap { handlers.append(cap.handler()) }
        if let gauge { handlers.append(gauge.handler()) }
        handlers.append(SendTimeoutHandler(timeout: sendTimeout))
        handlers.append(MalformedRequestHandler())
        return handlers
    }
}
