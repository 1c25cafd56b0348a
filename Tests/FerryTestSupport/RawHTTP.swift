import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

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
/// For an `http://` URL (or a bare port) it writes to a plain TCP socket. For an `https://` URL
/// the bytes go through `openssl s_client` (verifying the server against a CA file), whose
/// stdin and stdout are the connection: what is written reaches the server unchanged inside
/// TLS, and the server closing the connection ends `s_client`'s output.
///
/// Every blocking call runs on a dispatch thread, never on the cooperative pool (which an
/// in-process server needs), and ends at a deadline.
public final class RawHTTPConnection: Sendable {
    private struct Descriptors {
        var read: Int32
        var write: Int32
        /// The `openssl s_client` carrying a TLS connection; 0 for a plain socket.
        var child: pid_t
    }

    private let socket: Mutex<Descriptors>
    /// Bytes read past the end of the last response.
    private let pending = Mutex<[UInt8]>([])

    private init(fd: Int32) { socket = Mutex(Descriptors(read: fd, write: fd, child: 0)) }

    private init(read: Int32, write: Int32, child: pid_t) { socket = Mutex(Descriptors(read: read, write: write, child: child)) }

    deinit { close() }

    /// Connects to `host:port` (IPv4). `receiveBuffer` fixes the socket's receive buffer (which
    /// also turns off the kernel's autotuning of it): a client that stops reading then holds the
    /// server back after that many bytes, whatever the machine's `tcp_rmem`.
    public static func connect(
        port: Int, host: String = "127.0.0.1", receiveBuffer: Int? = nil, timeout: Duration = .seconds(10)
    ) async throws -> RawHTTPConnection {
        let fd = try await offPool { () throws(RawHTTPError) -> Int32 in
            try openSocket(host: host, port: port, receiveBuffer: receiveBuffer, timeout: timeout)
        }
        return RawHTTPConnection(fd: fd)
    }

    /// Connects to the port of a URL such as `http://127.0.0.1:5050`; over TLS for `https://`,
    /// trusting `caFile` (the cluster CA, `DATA_DIR/ca.pem`).
    public static func connect(url: String, caFile: String? = nil, timeout: Duration = .seconds(10)) async throws -> RawHTTPConnection {
        guard let parsed = URL(string: url), let port = parsed.port else { throw RawHTTPError("no port in \(url)") }
        let host = parsed.host ?? "127.0.0.1"
        guard parsed.scheme == "https" else { return try await connect(port: port, host: host, timeout: timeout) }
        guard let caFile else { throw RawHTTPError("\(url) needs a CA file") }
        return try await offPool { () throws(RawHTTPError) -> RawHTTPConnection in try spawnTLSClient(host: host, port: port, caFile: caFile) }
    }

    /// Starts `openssl s_client` with pipes for its stdin and stdout. `-quiet` prints nothing but
    /// the server's bytes and keeps reading after stdin ends; `-nocommands` sends every byte
    /// as it is (no `Q`/`R` command letters); `-verify_return_error` ends it on a bad certificate.
    private static func spawnTLSClient(host: String, port: Int, caFile: String) throws(RawHTTPError) -> RawHTTPConnection {
        signal(SIGPIPE, SIG_IGN)
        var input: [Int32] = [0, 0]
        var output: [Int32] = [0, 0]
        guard pipe(&input) == 0 else { throw RawHTTPError("pipe: \(String(cString: strerror(errno)))") }
        guard pipe(&output) == 0 else {
            Glibc.close(input[0])
            Glibc.close(input[1])
            throw RawHTTPError("pipe: \(String(cString: strerror(errno)))")
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, input[0], 0)
        posix_spawn_file_actions_adddup2(&actions, output[1], 1)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        for fd in input + output { posix_spawn_file_actions_addclose(&actions, fd) }
        let arguments = [
            "openssl", "s_client", "-connect", "\(host):\(port)", "-CAfile", caFile, "-verify_return_error", "-quiet", "-nocommands",
        ]
        let argv = arguments.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let result = posix_spawnp(&pid, "openssl", &actions, nil, argv, environ)
        Glibc.close(input[0])
        Glibc.close(output[1])
        guard result == 0 else {
            Glibc.close(input[1])
            Glibc.close(output[0])
            throw RawHTTPError("cannot run openssl s_client: \(String(cString: strerror(result)))")
        }
        for fd in [input[1], output[0]] { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) }
        return RawHTTPConnection(read: output[0], write: input[1], child: pid)
    }

    /// Sends `bytes`; returns how many went out before the peer closed or reset the connection
    /// (or `timeout` passed with the peer not reading).
    @discardableResult
    public func send(_ bytes: [UInt8], timeout: Duration = .seconds(30)) async -> Int {
        let (fd, isPipe) = socket.withLock { ($0.write, $0.child != 0) }
        guard fd >= 0 else { return 0 }
        return await Self.offPool { () -> Int in
            let deadline = ContinuousClock.now + timeout
            var sent = 0
            while sent < bytes.count {
                guard Self.poll(fd, events: Int16(POLLOUT), until: deadline) else { return sent }
                let n = bytes.withUnsafeBytes { buffer in
                    isPipe
                        ? Glibc.write(fd, buffer.baseAddress! + sent, bytes.count - sent)
                        : Glibc.send(fd, buffer.baseAddress! + sent, bytes.count - sent, Int32(MSG_NOSIGNAL) | Int32(MSG_DONTWAIT))
                }
                if n > 0 {
                    sent += n
                } else if n < 0 && (errno == EAGAIN || errno == EINTR) {
                    continue
                } else {
                    return sent
                }
            }
            return sent
        }
    }

    @discardableResult
    public func send(_ text: String, timeout: Duration = .seconds(30)) async -> Int {
        await send(Array(text.utf8), timeout: timeout)
    }

    /// Reads one response. Nil when the connection ends, or `timeout` passes, before a whole
    /// response arrived. `head` says the request was a HEAD (no body follows).
    public func readResponse(timeout: Duration = .seconds(30), head: Bool = false) async -> RawHTTPResponse? {
        let fd = socket.withLock { $0.read }
        guard fd >= 0 else { return nil }
        let buffered = pending.withLock { $0 }
        let (response, rest) = await Self.offPool { () -> (RawHTTPResponse?, [UInt8]) in
            var reader = Reader(fd: fd, buffer: buffered, deadline: ContinuousClock.now + timeout)
            while true {
                guard let response = reader.response(head: head) else { return (nil, []) }
                if (100..<200).contains(response.status) { continue }
                return (response, reader.buffer)
            }
        }
        pending.withLock { $0 = rest }
        return response
    }

    /// Whether the peer closes (or resets) the connection within `timeout`; bytes it sends
    /// meanwhile are read and dropped.
    public func closedByPeer(within timeout: Duration) async -> Bool {
        let fd = socket.withLock { $0.read }
        guard fd >= 0 else { return true }
        return await Self.offPool { () -> Bool in
            var reader = Reader(fd: fd, buffer: [], deadline: ContinuousClock.now + timeout)
            while true {
                switch reader.fill() {
                case .data: reader.buffer.removeAll()
                case .closed: return true
                case .timedOut: return false
                }
            }
        }
    }

    /// Ends the sending side (a FIN; over TLS, `s_client`'s input), keeping the connection open
    /// for reading.
    public func shutdownWrite() {
        socket.withLock { fds in
            guard fds.write >= 0 else { return }
            if fds.child != 0 {
                Glibc.close(fds.write)
                fds.write = -1
            } else {
                _ = shutdown(fds.write, Int32(SHUT_WR))
            }
        }
    }

    public func close() {
        socket.withLock { fds in
            if fds.read >= 0 { Glibc.close(fds.read) }
            if fds.write >= 0 && fds.write != fds.read { Glibc.close(fds.write) }
            fds.read = -1
            fds.write = -1
            if fds.child != 0 {
                kill(fds.child, SIGKILL)
                var status: Int32 = 0
                _ = waitpid(fds.child, &status, 0)
                fds.child = 0
            }
        }
    }

    /// Connects (over TLS for `https://`, trusting `caFile`), sends `request`, reads one
    /// response, closes.
    public static func exchange(
        url: String, caFile: String? = nil, _ request: [UInt8], head: Bool = false, timeout: Duration = .seconds(30)
    ) async throws -> RawHTTPResponse? {
        let connection = try await connect(url: url, caFile: caFile)
        defer { connection.close() }
        await connection.send(request, timeout: timeout)
        return await connection.readResponse(timeout: timeout, head: head)
    }

    public static func exchange(
        url: String, caFile: String? = nil, _ request: String, head: Bool = false, timeout: Duration = .seconds(30)
    ) async throws -> RawHTTPResponse? {
        try await exchange(url: url, caFile: caFile, Array(request.utf8), head: head, timeout: timeout)
    }

    // MARK: Internals

    private static func offPool<T: Sendable, E: Error>(_ work: @escaping @Sendable () throws(E) -> T) async throws(E) -> T {
        let result: Result<T, E> = await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(returning: Result { () throws(E) -> T in try work() })
            }
        }
        return try result.get()
    }

    private static func offPool<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async { continuation.resume(returning: work()) }
        }
    }

    /// Waits for `events` on `fd`; false at the deadline or on a poll error.
    fileprivate static func poll(_ fd: Int32, events: Int16, until deadline: ContinuousClock.Instant) -> Bool {
        while true {
            let left = deadline - ContinuousClock.now
            guard left > .zero else { return false }
            var descriptor = pollfd(fd: fd, events: events, revents: 0)
            let milliseconds = Int32(min(left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000 + 1, 60_000))
            let ready = Glibc.poll(&descriptor, 1, milliseconds)
            if ready > 0 { return true }
            if ready < 0 && errno != EINTR { return false }
        }
    }

    private static func openSocket(host: String, port: Int, receiveBuffer: Int? = nil, timeout: Duration) throws(RawHTTPError) -> Int32 {
        let fd = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw RawHTTPError("socket: \(String(cString: strerror(errno)))") }
        if var size = receiveBuffer.map(Int32.init) {
            // Before connect, so the window offered in the handshake already follows it.
            guard setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size)) == 0 else {
                let message = String(cString: strerror(errno))
                Glibc.close(fd)
                throw RawHTTPError("SO_RCVBUF: \(message)")
            }
        }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr(host)
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        if result != 0 && errno != EINPROGRESS {
            let message = String(cString: strerror(errno))
            Glibc.close(fd)
            throw RawHTTPError("connect to \(host):\(port): \(message)")
        }
        guard poll(fd, events: Int16(POLLOUT), until: ContinuousClock.now + timeout) else {
            Glibc.close(fd)
            throw RawHTTPError("connect to \(host):\(port) timed out")
        }
        var error: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length)
        guard error == 0 else {
            Glibc.close(fd)
            throw RawHTTPError("connect to \(host):\(port): \(String(cString: strerror(error)))")
        }
        return fd
    }
}

public struct RawHTTPError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Reads and parses responses from a non-blocking socket until a deadline.
private struct Reader {
    enum Fill { case data, closed, timedOut }

    let fd: Int32
    var buffer: [UInt8]
    let deadline: ContinuousClock.Instant
    var ended = false

    /// Reads more bytes into `buffer`.
    mutating func fill() -> Fill {
        guard !ended else { return .closed }
        guard RawHTTPConnection.pollForReading(fd, until: deadline) else { return .timedOut }
        var chunk = [UInt8](repeating: 0, count: 65536)
        let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n > 0 {
            buffer += chunk[0..<n]
            return .data
        }
        if n < 0 && (errno == EAGAIN || errno == EINTR) { return .data }
        ended = true
        return .closed
    }

    /// Takes bytes up to and including `delimiter`, reading more as needed.
    mutating func take(through delimiter: [UInt8]) -> [UInt8]? {
        while true {
            if let range = buffer.firstRange(of: delimiter) {
                let taken = Array(buffer[..<range.upperBound])
                buffer.removeFirst(range.upperBound)
                return taken
            }
            guard fill() == .data else { return nil }
        }
    }

    mutating func take(_ count: Int) -> [UInt8]? {
        while buffer.count < count {
            guard fill() == .data else { return nil }
        }
        let taken = Array(buffer[..<count])
        buffer.removeFirst(count)
        return taken
    }

    mutating func response(head: Bool) -> RawHTTPResponse? {
        guard let headBytes = take(through: Array("\r\n\r\n".utf8)) else { return nil }
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
                guard let sizeLine = take(through: Array("\r\n".utf8)) else { return nil }
                let text = String(decoding: sizeLine.dropLast(2), as: UTF8.self).split(separator: ";").first.map(String.init) ?? ""
                guard let size = Int(text.trimmingCharacters(in: .whitespaces), radix: 16) else { return nil }
                if size == 0 {
                    _ = take(through: Array("\r\n".utf8))
                    return response
                }
                guard let chunk = take(size), take(2) != nil else { return nil }
                response.body += chunk
            }
        }
        if let length = headers["content-length"].flatMap({ Int($0) }) {
            guard let body = take(length) else { return nil }
            response.body = body
            return response
        }
        while fill() == .data {}
        response.body = buffer
        buffer = []
        return ended ? response : nil
    }
}

extension RawHTTPConnection {
    fileprivate static func pollForReading(_ fd: Int32, until deadline: ContinuousClock.Instant) -> Bool {
        poll(fd, events: Int16(POLLIN), until: deadline)
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
