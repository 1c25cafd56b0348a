import FerryCore
import ServiceLifecycle

#if canImport(Glibc)
import Glibc
#endif

/// Tells systemd about the daemon's state (`Type=notify`): one datagram per message to the unix
/// socket named by `NOTIFY_SOCKET` (a path, or `@name` for an abstract socket), as `sd_notify(3)`
/// does, without linking libsystemd. Without `NOTIFY_SOCKET` it sends nothing.
public struct SystemdNotifier: Sendable {
    /// The socket's address, as `NOTIFY_SOCKET` gives it.
    public let socket: String?

    public init(environment: [String: String]) {
        socket = environment["NOTIFY_SOCKET"].flatMap { $0.isEmpty ? nil : $0 }
    }

    /// `READY=1`: the daemon listens.
    public func ready(status: String) { send("READY=1\nSTATUS=\(status)") }

    /// `STOPPING=1`: the daemon is shutting down.
    public func stopping() { send("STOPPING=1") }

    /// Sends `message`; failures are ignored, as `sd_notify` callers do.
    @discardableResult
    public func send(_ message: String) -> Bool {
        guard let socket, socket.hasPrefix("/") || socket.hasPrefix("@") else { return false }
        var path = Array(socket.utf8)
        if path.first == UInt8(ascii: "@") { path[0] = 0 }  // abstract namespace: a leading NUL, no terminator
        var address = sockaddr_un()
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard path.count < capacity else { return false }
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            buffer.copyBytes(from: path)
        }
        let length = socklen_t(MemoryLayout<sockaddr_un>.offset(of: \.sun_path)! + path.count + (path.first == 0 ? 0 : 1))
        let descriptor = Glibc.socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        let bytes = Array(message.utf8)
        let sent = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { socketAddress in
                bytes.withUnsafeBytes { sendto(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL), socketAddress, length) }
            }
        }
        return sent == bytes.count
    }

    /// A service to run last in a `ServiceGroup`: on graceful shutdown (SIGTERM) it sends
    /// `STOPPING=1` before the other services stop.
    public func stoppingNotice() -> some Service { StoppingNotice(notifier: self) }

    struct StoppingNotice: Service {
        let notifier: SystemdNotifier

        func run() async throws {
            try? await gracefulShutdown()
            notifier.stopping()
        }
    }
}
