import FerryDiagnostics
import Logging
import NIOCore
import Synchronization

/// At most ``limit`` connections open at once from one client address on one listener: the
/// one over it is closed as soon as it is accepted, before its TLS handshake or any byte of it
/// is read, and counted in `ferry_connections_refused_total`. One node (or anyone who can reach
/// the port) opening connections without end then runs out of its own share, not of the
/// server's file descriptors and memory (about 50 KB a TLS connection).
public final class ClientConnectionCap: Sendable {
    /// The most connections one address may hold open at once.
    public let limit: Int
    private let open = Mutex<[String: Int]>([:])
    private let lastWarning = Mutex<ContinuousClock.Instant?>(nil)
    private let logger = Logger(label: "ferry.http")

    public init(limit: Int) {
        self.limit = limit
    }

    /// Connections open now from `address` (for tests).
    public func count(for address: String) -> Int { open.withLock { $0[address] ?? 0 } }

    /// Takes a place for `address`; false when it already holds ``limit``.
    func admit(_ address: String) -> Bool {
        let admitted = open.withLock { open -> Bool in
            let held = open[address] ?? 0
            guard held < limit else { return false }
            open[address] = held + 1
            return true
        }
        if !admitted {
            FerryMetrics.countConnectionRefused()
            warnAtMostEveryMinute(address)
        }
        return admitted
    }

    /// Gives back a place taken by ``admit(_:)``.
    func leave(_ address: String) {
        open.withLock { open in
            guard let held = open[address] else { return }
            open[address] = held > 1 ? held - 1 : nil
        }
    }

    private func warnAtMostEveryMinute(_ address: String) {
        let now = ContinuousClock.now
        let due = lastWarning.withLock { last -> Bool in
            if let last, now - last < .seconds(60) { return false }
            last = now
            return true
        }
        guard due else { return }
        logger.warning(
            "refused a connection: this client already has the most connections allowed open (--max-connections-per-client)",
            metadata: ["client": "\(address)", "limit": "\(limit)"])
    }

    /// The handler that holds one connection's place, one per connection.
    func handler() -> Handler { Handler(cap: self) }

    final class Handler: ChannelInboundHandler, RemovableChannelHandler {
        typealias InboundIn = NIOAny
        private let cap: ClientConnectionCap
        /// Not looked at yet; holding a place under the key; not capped (no IP address, or its
        /// place given back); refused and closed.
        private enum Place { case unchecked, holding(String), uncapped, refused }
        private var place = Place.unchecked

        init(cap: ClientConnectionCap) { self.cap = cap }

        func handlerAdded(context: ChannelHandlerContext) {
            if context.channel.isActive { _ = check(context) }
        }

        func channelActive(context: ChannelHandlerContext) {
            // A refused connection is closed: the handlers after this one never see it active.
            guard check(context) else { return }
            context.fireChannelActive()
        }

        func handlerRemoved(context: ChannelHandlerContext) {
            if case .holding(let key) = place { cap.leave(key) }
            place = .uncapped
        }

        /// Takes the connection's place once; false when it was refused (and closed).
        private func check(_ context: ChannelHandlerContext) -> Bool {
            switch place {
            case .unchecked: break
            case .refused: return false
            case .holding, .uncapped: return true
            }
            // A connection without an IP address (a Unix socket) is not capped.
            guard let address = context.channel.remoteAddress?.ipAddress else {
                place = .uncapped
                return true
            }
            let key = Self.key(address)
            guard cap.admit(key) else {
                place = .refused
                context.close(promise: nil)
                return false
            }
            place = .holding(key)
            return true
        }

        /// An IPv4 client reached over IPv6 (`::ffff:a.b.c.d`) counts as its IPv4 address.
        static func key(_ address: String) -> String {
            address.lowercased().hasPrefix("::ffff:") && address.contains(".") ? String(address.dropFirst(7)) : address
        }
    }
}
