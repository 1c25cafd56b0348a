import AsyncHTTPClient
import FerryCore
import FerryPolicy
import NIOCore
import NIOHTTP1

/// The part of a resumable blob download that upstream registries and mesh peers share: check
/// that the answer to `GET … Range: bytes=N-` starts where it was asked to, then stream its body
/// into a ``BlobSink`` without ever holding more than the blob's size.
///
/// Callers own the request (authentication, retries, which source) and word the outcomes.
public enum RangedDownload {
    /// Where the answer's body starts.
    public enum Start: Sendable, Hashable {
        /// At the requested offset (a 206 with the right `Content-Range`, or a 200 to a request from 0).
        case atOffset
        /// At 0: the server ignored `Range`; the sink was reset.
        case restarted
    }

    /// Why an answer cannot be used.
    public enum Refusal: Error, Sendable, Hashable {
        /// A 206 whose `Content-Range` does not start at the offset asked for (or names another size).
        case wrongRange
        /// 416 to a resume: the server cannot serve from that offset.
        case rangeNotSatisfiable
        /// Any other status.
        case status(UInt)
    }

    /// How a body ended.
    public enum Outcome: Sendable, Hashable {
        /// The sink holds exactly the blob's size.
        case complete
        /// The body ended early, at this many bytes.
        case endedEarly(at: Int64)
        /// The stream broke (a transport problem), at this many bytes.
        case broke(at: Int64, TransportProblem?)
        /// The server sent more bytes than the blob has; nothing past the size was written.
        case overflow
        /// The source sent fewer bytes than its ``ProgressFloor`` asks, at this many bytes held.
        case tooSlow(at: Int64)
    }

    /// Checks an answer to a GET from `offset` for a blob of `size` bytes, resetting `sink` when the
    /// server restarted from 0.
    public static func start(
        status: HTTPResponseStatus, headers: HTTPHeaders, offset: Int64, size: Int64, sink: some BlobSink
    ) async throws -> Result<Start, Refusal> {
        switch status {
        case .ok:
            if offset > 0 {
                try await sink.reset()
                return .success(.restarted)
            }
            return .success(.atOffset)
        case .partialContent:
            guard let range = headers.first(name: "Content-Range").flatMap(ContentRange.init(header:)),
                range.start == offset, range.total == nil || range.total == size
            else { return .failure(.wrongRange) }
            return .success(.atOffset)
        case .rangeNotSatisfiable where offset > 0:
            return .failure(.rangeNotSatisfiable)
        default:
            return .failure(.status(status.code))
        }
    }

    /// Streams `body` into `sink` from `offset`, calling `received` after each chunk with the
    /// bytes held. Errors of the sink (a full disk) and cancellation are thrown; what the other
    /// side did is the returned ``Outcome``.
    public static func receive(
        _ body: HTTPClientResponse.Body, into sink: some BlobSink, from offset: Int64, size: Int64,
        rateLimiter: RateLimiter? = nil, floor: ProgressFloor? = nil, received: (_ chunk: Int, _ held: Int64) -> Void = { _, _ in }
    ) async throws -> Outcome {
        var have = offset
        var floor = floor
        var iterator = body.makeAsyncIterator()
        while true {
            let next: ByteBuffer?
            do {
                next = try await iterator.next()
            } catch {
                try Task.checkCancellation()
                if error is CancellationError { throw error }
                return .broke(at: have, TransportProblem(error))
            }
            guard let chunk = next else { break }
            // The floor judges the source's pace, not this side's: its own waits are left out
            // (the clock is read only when there is a floor: upstream downloads have none).
            let holding = floor == nil ? nil : ContinuousClock.now
            if let rateLimiter { try await rateLimiter.acquire(chunk.readableBytes) }
            guard have + Int64(chunk.readableBytes) <= size else { return .overflow }
            try await sink.write(chunk)
            if let holding { floor?.exclude(ContinuousClock.now - holding) }
            have += Int64(chunk.readableBytes)
            received(chunk.readableBytes, have)
            if floor?.record(chunk.readableBytes, at: .now) == false, have < size { return .tooSlow(at: have) }
        }
        return have == size ? .complete : .endedEarly(at: have)
    }
}
