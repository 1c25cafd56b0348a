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
    /// never cut. Longer than AsyncHTTPClient's 60 s pool idle timeout, so that clients close
    /// their idle connections first and never send on one the server is closing. Default 75 s.
    public var idleTimeout: Duration
    /// The longest request line or header field. Default 16 KiB.
    public var maxHeaderFieldSize: Int
    /// All of a request's head: request line and header fields. Default 64 KiB.
    public var maxHeaderSize: Int
    /// Header fields in one request. Default 100.
    public var maxHeaderCount: Int

    public init(idleTimeout: Duration = defaultIdleTimeout, maxHeaderFieldSize: Int = 16 * 1024, maxHeaderSize: Int = 64 * 1024, maxHeaderCount: Int = 100) {
        self.idleTimeout = idleTimeout
        self.maxHeaderFieldSize = maxHeaderFieldSize
        self.maxHeaderSize = maxHeaderSize
        self.maxHeaderCount = maxHeaderCount
    }

    /// An HTTP/1.1 server with these limits that answers requests the parser cannot read
    /// (oversized head, unknown method, broken framing) with a registry-style error, and counts
    /// its connections in `gauge` when given.
    public func http1(gauge: ConnectionGauge? = nil) -> HTTPServerBuilder {
        let configuration = HTTP1Channel.Configuration(
            additionalChannelHandlers: gauge.map { [$0.handler(), MalformedRequestHandler()] } ?? [MalformedRequestHandler()],
            idleTimeout: TimeAmount(idleTimeout),
            httpDecoderConfiguration: .init(maxHeaderFieldSize: maxHeaderFieldSize, maxHeaderListSize: maxHeaderSize, maxHeaderFieldCount: maxHeaderCount))
        return .http1(configuration: configuration)
    }
}
