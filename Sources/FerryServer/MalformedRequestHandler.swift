import FerryCore
import FerryMesh
import Foundation
import HTTPTypes
import NIOCore
import NIOHTTP1
import NIOHTTPTypes

/// Answers a request the HTTP parser refuses (a head over ``HTTPLimits``, an unknown method,
/// broken framing) with a registry-style JSON error, where Hummingbird would send an empty 400,
/// then closes the connection for writing: the client reads the answer, and the idle timeout
/// ends a client that never closes. A parse error while a request is being answered is left
/// to Hummingbird (a response is already under way).
final class MalformedRequestHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    /// Requests read whose response has not ended.
    private var open = 0
    private var refused = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !refused else { return }
        if case .head = unwrapInboundIn(data) { open += 1 }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) { open -= 1 }
        context.write(data, promise: promise)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // After the refusal the decoder reports every further byte as an error: drop them.
        guard !refused else { return }
        guard open == 0, let parseError = error as? HTTPParserError else {
            context.fireErrorCaught(error)
            return
        }
        refused = true
        let refusal = Self.refusal(for: parseError)
        let body = (try? FerryJSON.encoder().encode(ErrorResponse(errors: [ErrorEntry(refusal)]))) ?? Data()
        let head = HTTPResponse(
            status: refusal.status,
            headerFields: [
                .contentType: "application/json", .contentLength: String(body.count), .connection: "close",
                .dockerDistributionAPIVersion: "registry/2.0",
            ])
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(ByteBuffer(bytes: body))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        context.close(mode: .output, promise: nil)
    }

    static func refusal(for error: HTTPParserError) -> FerryError {
        switch error {
        case .headerOverflow:
            FerryError(.headersTooLarge, "the request head is too large")
        case .invalidMethod:
            FerryError(.invalidArgument, "malformed HTTP request: the method is not an HTTP method")
        default:
            FerryError(.invalidArgument, "malformed HTTP request (\(error))")
        }
    }
}
