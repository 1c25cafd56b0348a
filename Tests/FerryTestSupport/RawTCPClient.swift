import FerryCore
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A client on a raw TCP connection to 127.0.0.1 that reads only when told to: a customer that
/// stops reading, reads slowly, or resets its connection (`SO_LINGER` 0), deterministically,
/// where cancelling an HTTP client's task may leave its connection reading.
public final class RawTCPClient: Sendable {
    let descriptor: Int32
    private let closed = Atomic(false)

    /// Connects; `receiveBuffer` sets `SO_RCVBUF` first (a small one holds little of what the
    /// server sends while nothing is read).
    public init(port: Int, receiveBuffer: Int? = nil) throws {
        // Close-on-exec: a process another test spawns meanwhile must not inherit the socket (it
        // would keep the connection open after a reset).
        descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { throw FerryError(.internal, "cannot open a socket: errno \(errno)") }
        if let receiveBuffer {
            var size = Int32(receiveBuffer)
            _ = setsockopt(descriptor, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw FerryError(.internal, "cannot connect: errno \(errno)") }
        var wait = timeval(tv_sec: 60, tv_usec: 0)
        _ = setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &wait, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { if !closed.exchange(true, ordering: .relaxed) { close(descriptor) } }

    /// Sends `text` whole.
    public func send(_ text: String) throws {
        let bytes = Array(text.utf8)
        guard Glibc.send(descriptor, bytes, bytes.count, Int32(MSG_NOSIGNAL)) == bytes.count else {
            throw FerryError(.internal, "cannot send: errno \(errno)")
        }
    }

    /// Reads at most `limit` bytes, waiting for some (at most 60 s); 0 at the end of the stream,
    /// on an error, or when nothing came in time.
    public func read(_ limit: Int) -> Int {
        var buffer = [UInt8](repeating: 0, count: limit)
        return max(recv(descriptor, &buffer, limit, 0), 0)
    }

    /// Waits until a response's head and at least one byte of its body have arrived: its status line.
    @discardableResult
    public func waitForBody(timeout: Duration = .seconds(30)) async throws -> String {
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        try await waitUntil("the first bytes of the body", timeout: timeout, every: .milliseconds(20)) {
            let count = recv(descriptor, &buffer, buffer.count, Int32(MSG_DONTWAIT))
            if count > 0 { received += buffer.prefix(count) }
            guard let end = received.firstRange(of: Array("\r\n\r\n".utf8)) else { return false }
            return received.count > end.upperBound
        }
        return String(decoding: received.prefix { $0 != UInt8(ascii: "\r") }, as: UTF8.self)
    }

    /// Resets the connection (`SO_LINGER` 0, then close).
    public func reset() {
        var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
        _ = setsockopt(descriptor, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
        if !closed.exchange(true, ordering: .relaxed) { close(descriptor) }
    }
}
