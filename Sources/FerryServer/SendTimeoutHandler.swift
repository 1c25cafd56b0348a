import FerryDiagnostics
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTPTypes

/// Closes a connection whose client stops taking what is sent to it, as nginx's `send_timeout`:
/// while response bytes wait to be written, one write must complete (reach the socket) every
/// ``HTTPLimits/sendTimeout``. Body parts are written in slices of at most ``sliceSize``, so a
/// client is cut once it takes less than that in the timeout. Without it, a client that never
/// reads (a liar, a stopped process) holds its response, its open file and the blob's place in
/// the store (which collection then cannot remove) for as long as its TCP connection lives.
/// Nothing is counted while nothing waits to be written: an idle connection, a long poll, a blob
/// still arriving. Counted in `ferry_send_timeouts_total`. One per connection, on its event loop.
final class SendTimeoutHandler: ChannelOutboundHandler, RemovableChannelHandler {
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    /// The most one write hands the socket at once.
    static let sliceSize = 256 * 1024
    private static let logger = Logger(label: "ferry.http")

    private let timeout: TimeAmount
    /// Writes handed on but not yet flushed, and flushed but not yet completed.
    private var unflushed = 0
    private var inFlight = 0
    /// When a write last completed, or when writes began to wait.
    private var lastProgress = NIODeadline.now()
    private var patrol: RepeatedTask?

    init(timeout: TimeAmount) { self.timeout = timeout }

    func handlerAdded(context: ChannelHandlerContext) {
        let bound = NIOLoopBound((handler: self, context: context), eventLoop: context.eventLoop)
        let interval = TimeAmount.nanoseconds(max(timeout.nanoseconds / 4, 100_000_000))
        patrol = context.eventLoop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { _ in
            bound.value.handler.check(bound.value.context)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        patrol?.cancel()
        patrol = nil
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard case .body(var buffer) = unwrapOutboundIn(data), buffer.readableBytes > Self.sliceSize else {
            context.write(data, promise: tracked(context, promise))
            return
        }
        while buffer.readableBytes > Self.sliceSize {
            context.write(wrapOutboundOut(.body(buffer.readSlice(length: Self.sliceSize)!)), promise: tracked(context, nil))
        }
        context.write(wrapOutboundOut(.body(buffer)), promise: tracked(context, promise))
    }

    func flush(context: ChannelHandlerContext) {
        if inFlight == 0, unflushed > 0 { lastProgress = .now() }
        inFlight += unflushed
        unflushed = 0
        context.flush()
    }

    /// A promise that records the write's completion, then completes `promise`.
    private func tracked(_ context: ChannelHandlerContext, _ promise: EventLoopPromise<Void>?) -> EventLoopPromise<Void> {
        unflushed += 1
        let written = context.eventLoop.makePromise(of: Void.self)
        written.futureResult.assumeIsolated().whenComplete { [self] result in
            if inFlight > 0 { inFlight -= 1 } else if unflushed > 0 { unflushed -= 1 }
            lastProgress = .now()
            promise?.completeWith(result)
        }
        return written
    }

    private func check(_ context: ChannelHandlerContext) {
        guard inFlight > 0, NIODeadline.now() - lastProgress >= timeout, context.channel.isActive else { return }
        patrol?.cancel()
        patrol = nil
        FerryMetrics.countSendTimeout()
        Self.logger.notice(
            "closed a connection whose client took nothing of its response within the send timeout (--send-timeout)",
            metadata: ["client": "\(context.channel.remoteAddress?.ipAddress ?? "-")", "timeout": "\(timeout.nanoseconds / 1_000_000_000)s"])
        context.close(promise: nil)
    }
}
