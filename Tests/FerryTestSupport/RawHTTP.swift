import Foundation
import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS
import Synchronization

/// One HTTP response as read off a raw socket.
public struct RawHTTPResponse: Sendable {
    public var status: Int
    public var statusLine: String
    /// Header fields, names lowercased (the last one wins).
    public var headers: [String: String]
    public var body: [UInt8]

    public var text: String { String(decoding: body, as: UTF8.self) }

    /// The codes of a registry-style error body (`{"errors":[{"code","message"}]}`); nil when the
    /// body is not one.
    public var errorCodes: [String]? {
        struct Errors: Decodable {
            struct Entry: Decodable {
                var code: String
                var message: String
            }
            var errors: [Entry]
        }
        guard let errors = try? JSONDecoder().decode(Errors.self, from: Data(body)), !errors.errors.isEmpty else { return nil }
        return errors.errors.map(\.code)
    }
}

/// A deliberately naive HTTP/1.1 client, for sending a server bytes no real client would:
/// broken request lines, oversized headers, truncated bodies, half requests.
///
/// A NIO channel carries the bytes as they are: over plain TCP for an `http://` URL (or a bare
/// port), inside TLS for an `https://` URL (a `NIOSSLClientHandler` verifying the server's
/// chain against a CA file, not its host name). A handler collects what the server sends;
/// reads are made on demand (`autoRead` off), ahead of any reader up to a limit, so a client
/// that stops reading holds the server back. The server closing or resetting the connection
/// ends it for the reader.
public final class RawHTTPConnection: Sendable {
    private let channel: any Channel
    private let inbox: Inbox
    /// Bytes read past the end of the last response.
    private let pending = Mutex<[UInt8]>([])

    private init(channel: any Channel, inbox: Inbox) {
        self.channel = channel
        self.inbox = inbox
    }

    deinit { close() }

    /// Connects to `host:port` over plain TCP. `receiveBuffer` fixes the socket's receive buffer
    /// (which also turns off the kernel's autotuning of it) and makes the client read only while
    /// it waits for a response: a client that stops reading then holds the server back after
    /// that many bytes, whatever the machine's `tcp_rmem`.
    public static func connect(
        port: Int, host: String = "127.0.0.1", receiveBuffer: Int? = nil, timeout: Duration = .seconds(10)
    ) async throws -> RawHTTPConnection {
        try await open(host: host, port: port, tls: nil, receiveBuffer: receiveBuffer, timeout: timeout)
    }

    /// Connects to the port of a URL such as `http://127.0.0.1:5050`; over TLS for `https://`,
    /// trusting `caFile` (the cluster CA, `DATA_DIR/ca.pem`), once the handshake is done.
    /// `clientCertificate` (PEM file paths) is presented as the TLS client certificate.
    public static func connect(
        url: String, caFile: String? = nil, clientCertificate: (certificate: String, key: String)? = nil, timeout: Duration = .seconds(10)
    ) async throws -> RawHTTPConnection {
        guard let parsed = URL(string: url), let port = parsed.port else { throw RawHTTPError("no port in \(url)") }
        let host = parsed.host ?? "127.0.0.1"
        guard parsed.scheme == "https" else { return try await connect(port: port, host: host, timeout: timeout) }
        guard let caFile else { throw RawHTTPError("\(url) needs a CA file") }
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.trustRoots = .file(caFile)
        configuration.certificateVerification = .noHostnameVerification
        if let clientCertificate {
            configuration.certificateChain = try NIOSSLCertificate.fromPEMFile(clientCertificate.certificate).map { .certificate($0) }
            configuration.privateKey = .privateKey(try NIOSSLPrivateKey(file: clientCertificate.key, format: .pem))
        }
        let context = try NIOSSLContext(configuration: configuration)
        return try await open(host: host, port: port, tls: context, receiveBuffer: nil, timeout: timeout)
    }

    private static func open(
        host: String, port: Int, tls: NIOSSLContext?, receiveBuffer: Int?, timeout: Duration
    ) async throws -> RawHTTPConnection {
        let deadline = NIODeadline.now() + TimeAmount(timeout)
        let inbox = Inbox()
        let readAhead = receiveBuffer == nil ? readAheadLimit : 0
        let eventLoop = MultiThreadedEventLoopGroup.singleton.next()
        let handshake = tls.map { _ in eventLoop.makePromise(of: Void.self) }
        var bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(TimeAmount(timeout))
            .channelOption(ChannelOptions.autoRead, value: false)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls {
                        try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: tls, serverHostname: nil))
                    }
                    try channel.pipeline.syncOperations.addHandler(Collector(inbox: inbox, readAhead: readAhead, handshake: handshake))
                }
            }
        if let receiveBuffer {
            // Set before connecting, so the window offered in the handshake already follows it.
            bootstrap = bootstrap.channelOption(ChannelOptions.socketOption(.so_rcvbuf), value: SocketOptionValue(receiveBuffer))
        }
        let channel: any Channel
        do {
            channel = try await bootstrap.connect(host: host, port: port).get()
        } catch {
            handshake?.fail(error)
            throw RawHTTPError("connect to \(host):\(port): \(error)")
        }
        if let handshake {
            do {
                try await wait(for: handshake.futureResult, until: deadline)
            } catch {
                channel.close(promise: nil)
                throw RawHTTPError("TLS handshake with \(host):\(port): \(error)")
            }
        }
        return RawHTTPConnection(channel: channel, inbox: inbox)
    }

    /// How much a connection reads ahead of its reader (unless it has a fixed receive buffer).
    private static let readAheadLimit = 1 << 20

    /// Sends `bytes`; returns how many went out before the peer closed or reset the connection
    /// (or `timeout` passed with the peer not reading).
    @discardableResult
    public func send(_ bytes: [UInt8], timeout: Duration = .seconds(30)) async -> Int {
        let deadline = NIODeadline.now() + TimeAmount(timeout)
        var sent = 0
        while sent < bytes.count {
            let end = min(sent + 65536, bytes.count)
            let written = channel.eventLoop.makePromise(of: Void.self)
            channel.writeAndFlush(ByteBuffer(bytes: bytes[sent..<end]), promise: written)
            guard (try? await Self.wait(for: written.futureResult, until: deadline)) != nil else { return sent }
            sent = end
        }
        return sent
    }

    @discardableResult
    public func send(_ text: String, timeout: Duration = .seconds(30)) async -> Int {
        await send(Array(text.utf8), timeout: timeout)
    }

    /// Reads one response. Nil when the connection ends, or `timeout` passes, before a whole
    /// response arrived. `head` says the request was a HEAD (no body follows).
    public func readResponse(timeout: Duration = .seconds(30), head: Bool = false) async -> RawHTTPResponse? {
        let buffered = pending.withLock { $0 }
        var reader = Reader(inbox: inbox, channel: channel, buffer: buffered, deadline: NIODeadline.now() + TimeAmount(timeout))
        var response: RawHTTPResponse?
        repeat {
            response = await reader.response(head: head)
        } while response.map({ (100..<200).contains($0.status) }) == true
        let rest = response == nil ? [] : reader.buffer
        pending.withLock { $0 = rest }
        return response
    }

    /// Whether the peer closes (or resets) the connection within `timeout`; bytes it sends
    /// meanwhile are read and dropped.
    public func closedByPeer(within timeout: Duration) async -> Bool {
        let deadline = NIODeadline.now() + TimeAmount(timeout)
        while true {
            switch await inbox.take(until: deadline, from: channel) {
            case .data: continue
            case .closed: return true
            case .timedOut: return false
            }
        }
    }

    /// Ends the sending side (over TLS a close_notify, then a FIN), keeping the connection open
    /// for reading.
    public func shutdownWrite() {
        channel.close(mode: .output, promise: nil)
    }

    public func close() {
        channel.close(promise: nil)
    }

    /// Connects (over TLS for `https://`, trusting `caFile`), sends `request`, reads one
    /// response, closes.
    public static func exchange(
        url: String, caFile: String? = nil, clientCertificate: (certificate: String, key: String)? = nil, _ request: [UInt8], head: Bool = false,
        timeout: Duration = .seconds(30)
    ) async throws -> RawHTTPResponse? {
        let connection = try await connect(url: url, caFile: caFile, clientCertificate: clientCertificate)
        defer { connection.close() }
        await connection.send(request, timeout: timeout)
        return await connection.readResponse(timeout: timeout, head: head)
    }

    public static func exchange(
        url: String, caFile: String? = nil, clientCertificate: (certificate: String, key: String)? = nil, _ request: String, head: Bool = false,
        timeout: Duration = .seconds(30)
    ) async throws -> RawHTTPResponse? {
        try await exchange(url: url, caFile: caFile, clientCertificate: clientCertificate, Array(request.utf8), head: head, timeout: timeout)
    }

    /// The value of `future`, or a ``RawHTTPError`` once `deadline` passes.
    private static func wait<T: Sendable>(for future: EventLoopFuture<T>, until deadline: NIODeadline) async throws -> T {
        let promise = future.eventLoop.makePromise(of: T.self)
        future.cascade(to: promise)
        let timer = future.eventLoop.scheduleTask(deadline: deadline) { promise.fail(RawHTTPError("timed out")) }
        defer { timer.cancel() }
        return try await promise.futureResult.get()
    }
}

public struct RawHTTPError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// What a connection has received and not yet handed to a reader, and whether it has ended;
/// filled on the channel's event loop, emptied by readers.
private final class Inbox: Sendable {
    enum Fill {
        case data([UInt8])
        case closed
        case timedOut
    }

    private struct State {
        var bytes: [UInt8] = []
        var ended = false
        var waiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
        var lastWaiter: UInt64 = 0
    }

    private let state = Mutex(State())

    func append(_ bytes: [UInt8]) {
        let waiters = state.withLock { state in
            state.bytes += bytes
            return state.waiters.takeAll()
        }
        for waiter in waiters { waiter.resume() }
    }

    func end() {
        let waiters = state.withLock { state in
            state.ended = true
            return state.waiters.takeAll()
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Whether the handler should read more: a reader waits, or less than `readAhead` is held.
    func wantsMore(readAhead: Int) -> Bool {
        state.withLock { !$0.waiters.isEmpty || $0.bytes.count < readAhead }
    }

    /// Takes everything received so far; waits (asking `channel` to read) when that is nothing.
    func take(until deadline: NIODeadline, from channel: any Channel) async -> Fill {
        while true {
            let available = state.withLock { state -> Fill? in
                if !state.bytes.isEmpty {
                    defer { state.bytes = [] }
                    return .data(state.bytes)
                }
                return state.ended ? .closed : nil
            }
            if let available { return available }
            guard NIODeadline.now() < deadline else { return .timedOut }
            let id = state.withLock { state in
                state.lastWaiter += 1
                return state.lastWaiter
            }
            let timer = channel.eventLoop.scheduleTask(deadline: deadline) { self.wake(id) }
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let parked = state.withLock { state in
                    // A timer that fired already found no one to wake: do not wait for it.
                    guard state.bytes.isEmpty, !state.ended, NIODeadline.now() < deadline else { return false }
                    state.waiters[id] = continuation
                    return true
                }
                if parked { channel.read() } else { continuation.resume() }
            }
            timer.cancel()
        }
    }

    private func wake(_ id: UInt64) {
        state.withLock { $0.waiters.removeValue(forKey: id) }?.resume()
    }
}

extension Dictionary {
    fileprivate mutating func takeAll() -> [Value] {
        defer { self = [:] }
        return Array(values)
    }
}

/// The last handler of a ``RawHTTPConnection``: puts what arrives in its inbox, reads while the
/// inbox wants more, ends it when the channel goes, and reports the end of the TLS handshake.
private final class Collector: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private let inbox: Inbox
    private let readAhead: Int
    private let handshake: EventLoopPromise<Void>?

    init(inbox: Inbox, readAhead: Int, handshake: EventLoopPromise<Void>?) {
        self.inbox = inbox
        self.readAhead = readAhead
        self.handshake = handshake
    }

    func channelActive(context: ChannelHandlerContext) {
        context.fireChannelActive()
        // A TLS handshake needs reads whether or not anyone waits for data.
        if handshake != nil || inbox.wantsMore(readAhead: readAhead) { context.read() }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        inbox.append(Array(unwrapInboundIn(data).readableBytesView))
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if inbox.wantsMore(readAhead: readAhead) { context.read() }
        context.fireChannelReadComplete()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .handshakeCompleted? = event as? TLSUserEvent { handshake?.succeed() }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        handshake?.fail(error)
        inbox.end()
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        handshake?.fail(RawHTTPError("the connection closed"))
        inbox.end()
        context.fireChannelInactive()
    }
}

/// Reads and parses responses from a connection's inbox until a deadline.
private struct Reader {
    let inbox: Inbox
    let channel: any Channel
    var buffer: [UInt8]
    let deadline: NIODeadline
    var ended = false

    /// Reads more bytes into `buffer`; true when some came.
    mutating func fill() async -> Bool {
        guard !ended else { return false }
        switch await inbox.take(until: deadline, from: channel) {
        case .data(let bytes):
            buffer += bytes
            return true
        case .closed:
            ended = true
            return false
        case .timedOut:
            return false
        }
    }

    /// Takes bytes up to and including `delimiter`, reading more as needed.
    mutating func take(through delimiter: [UInt8]) async -> [UInt8]? {
        while true {
            if let range = buffer.firstRange(of: delimiter) {
                let taken = Array(buffer[..<range.upperBound])
                buffer.removeFirst(range.upperBound)
                return taken
            }
            guard await fill() else { return nil }
        }
    }

    mutating func take(_ count: Int) async -> [UInt8]? {
        while buffer.count < count {
            guard await fill() else { return nil }
        }
        let taken = Array(buffer[..<count])
        buffer.removeFirst(count)
        return taken
    }

    mutating func response(head: Bool) async -> RawHTTPResponse? {
        guard let headBytes = await take(through: Array("\r\n\r\n".utf8)) else { return nil }
        let lines = String(decoding: headBytes, as: UTF8.self).components(separatedBy: "\r\n").filter { !$0.isEmpty }
        guard let statusLine = lines.first else { return nil }
        let parts = statusLine.split(separator: " ", maxSplits: 2)
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/"), let status = Int(parts[1]) else { return nil }
        var headers: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        var response = RawHTTPResponse(status: status, statusLine: statusLine, headers: headers, body: [])
        if head || (100..<200).contains(status) || status == 204 || status == 304 { return response }
        if headers["transfer-encoding"]?.lowercased().contains("chunked") == true {
            while true {
                guard let sizeLine = await take(through: Array("\r\n".utf8)) else { return nil }
                let text = String(decoding: sizeLine.dropLast(2), as: UTF8.self).split(separator: ";").first.map(String.init) ?? ""
                guard let size = Int(text.trimmingCharacters(in: .whitespaces), radix: 16) else { return nil }
                if size == 0 {
                    _ = await take(through: Array("\r\n".utf8))
                    return response
                }
                guard let chunk = await take(size), await take(2) != nil else { return nil }
                response.body += chunk
            }
        }
        if let length = headers["content-length"].flatMap({ Int($0) }) {
            guard let body = await take(length) else { return nil }
            response.body = body
            return response
        }
        while await fill() {}
        response.body = buffer
        buffer = []
        return ended ? response : nil
    }
}

/// Request bytes, built by hand so that anything can be put in them.
public enum RawHTTP {
    /// `METHOD TARGET HTTP/1.1`, a Host, the given fields, `Connection: close`, and the body with
    /// its `Content-Length` (unless `fields` sets one).
    public static func request(
        _ method: String, _ target: String, fields: [(String, String)] = [], body: [UInt8] = [], host: String = "127.0.0.1"
    ) -> [UInt8] {
        var head = "\(method) \(target) HTTP/1.1\r\nHost: \(host)\r\n"
        for (name, value) in fields { head += "\(name): \(value)\r\n" }
        if !fields.contains(where: { $0.0.lowercased() == "content-length" || $0.0.lowercased() == "transfer-encoding" }) {
            if !body.isEmpty || ["POST", "PUT", "PATCH"].contains(method) { head += "Content-Length: \(body.count)\r\n" }
        }
        if !fields.contains(where: { $0.0.lowercased() == "connection" }) { head += "Connection: close\r\n" }
        head += "\r\n"
        return Array(head.utf8) + body
    }

    public static func bearer(_ token: String) -> (String, String) { ("Authorization", "Bearer \(token)") }
}
