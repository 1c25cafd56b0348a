import NIOCore
import Synchronization

/// Counts a listener's connections: how many are open and how many have closed since it started.
/// Read by the memory trimmer, which returns freed memory to the system after a burst of
/// connections closed (see `docs/reliability.md`, "Idle connections").
public final class ConnectionGauge: Sendable {
    private let opened = Atomic<Int>(0)
    private let closedCount = Atomic<Int>(0)

    public init() {}

    /// Connections open now.
    public var open: Int { opened.load(ordering: .relaxed) - closedCount.load(ordering: .relaxed) }
    /// Connections closed since the listener started.
    public var closed: Int { closedCount.load(ordering: .relaxed) }

    func didOpen() { opened.add(1, ordering: .relaxed) }
    func didClose() { closedCount.add(1, ordering: .relaxed) }

    /// The handler that feeds this gauge, one per connection.
    func handler() -> Handler { Handler(gauge: self) }

    final class Handler: ChannelInboundHandler, RemovableChannelHandler {
        typealias InboundIn = NIOAny
        private let gauge: ConnectionGauge
        private var counted = false

        init(gauge: ConnectionGauge) { self.gauge = gauge }

        func handlerAdded(context: ChannelHandlerContext) {
            if context.channel.isActive { count() }
        }

        func channelActive(context: ChannelHandlerContext) {
            count()
            context.fireChannelActive()
        }

        func handlerRemoved(context: ChannelHandlerContext) {
            guard counted else { return }
            counted = false
            gauge.didClose()
        }

        private func count() {
            guard !counted else { return }
            counted = true
            gauge.didOpen()
        }
    }
}
