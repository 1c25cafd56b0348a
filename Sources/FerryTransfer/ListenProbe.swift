#if canImport(Glibc)
import Glibc
#endif
import NIOCore
import NIOPosix

/// Checks that a daemon's listening addresses can be bound before it writes anything or joins
/// anyone: a busy port is then one line and nothing changed (the leader had created its data
/// directory and tokens, a follower had joined as a node that could never be reached). The
/// socket is bound as the servers bind theirs (`SO_REUSEADDR`) and closed at once; a port taken
/// in between still fails later, at the real bind.
public enum ListenProbe {
    /// Binds `host:port` and closes it; throws the bind's error (an `IOError`, e.g.
    /// `EADDRINUSE`). Port 0 (any free port) is not checked.
    public static func check(host: String, port: Int) async throws {
        guard port != 0 else { return }
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .bind(host: host, port: port).get()
        try await channel.close()
    }

    /// What a failed bind says, in a line: a name that does not resolve, or the system's error.
    public static func describe(_ error: any Error) -> String {
        switch error {
        case is SocketAddressError.UnknownHost, is SocketAddressError: return "the host name does not resolve"
        case let error as IOError: return String(cString: strerror(error.errnoCode))
        default: return "\(error)"
        }
    }
}
