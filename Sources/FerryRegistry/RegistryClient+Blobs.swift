import AsyncHTTPClient
import FerryCore
import FerryDiagnostics
import FerryTransfer
import Logging
import NIOCore
import NIOHTTP1

extension RegistryClient {
    /// Downloads a blob into `sink`, resuming from what the sink already holds.
    ///
    /// A connection dropped mid-stream resumes with `Range: bytes=N-`; a 206 is accepted only
    /// when its `Content-Range` starts at N, and a 200 (a registry that ignores `Range`)
    /// restarts from zero. Retries back off as the policy says, and start over whenever bytes
    /// arrived. Returns when the sink holds exactly `descriptor.size` bytes; checking the digest
    /// is the sink's job when it commits.
    ///
    /// `end`: only the bytes before this offset (a piece of the blob, ``BlobPieces``), asked with
    /// `Range: bytes=N-(end-1)`; a registry that answers with the whole blob instead fails the
    /// piece with ``FerryError/Code/unsupported`` before anything is written.
    public func downloadBlob(
        repository: ImageReference,
        descriptor: Descriptor,
        into sink: some BlobSink,
        upTo end: Int64? = nil,
        progress: (@Sendable (Int64) -> Void)? = nil,
        logger: Logger = .disabled
    ) async throws {
        let repository = configuration.routed(repository)
        let host = repository.registry
        let what = "blob \(descriptor.digest) of \(repository.name)"
        let size = descriptor.size
        let piece = end != nil
        let end = min(end ?? size, size)
        try await withRetries(what: what, logger: logger) { madeProgress in
            var have = try await sink.offset()
            if have > end {
                try await sink.reset()
                have = 0
            }
            if have == end {
                progress?(have)
                return
            }
            var headers: HTTPHeaders = [:]
            if piece {
                headers.add(name: "Range", value: "bytes=\(have)-\(end - 1)")
            } else if have > 0 {
                headers.add(name: "Range", value: "bytes=\(have)-")
            }
            let upstream = try await send(
                .GET, host: host, path: "/v2/\(repository.repository)/blobs/\(descriptor.digest)",
                repository: repository.repository, headers: headers,
                deadline: .now() + .hours(24), logger: logger)
            let response = upstream.response
            // Where the bytes come from: the registry, or the storage it redirected to (whose
            // lengths and failures are not echoed).
            let source = upstream.redirectedTo.map { "\($0) (redirected by registry \(host))" } ?? "registry \(host)"
            if piece && response.status != .partialContent && (200..<300).contains(response.status.code) {
                _ = try? await response.body.collect(upTo: 0)
                throw FerryError(.unsupported, "\(source) ignored Range for a piece of \(what)")
            }
            switch try await RangedDownload.start(status: response.status, headers: response.headers, offset: have, size: size, sink: sink) {
            case .success(.restarted):
                logger.debug("registry ignored Range; restarting blob", metadata: ["digest": "\(descriptor.digest)"])
                have = 0
            case .success(.atOffset):
                break
            case .failure(.wrongRange):
                _ = try? await response.body.collect(upTo: 0)
                try await sink.reset()
                throw TransientFailure(FerryError(.upstreamError, "\(source) answered a resume of \(what) with the wrong range"))
            case .failure(.rangeNotSatisfiable):
                _ = try? await response.body.collect(upTo: 64 * 1024)
                try await sink.reset()
                throw TransientFailure(FerryError(.upstreamError, "\(source) refused to resume \(what)"))
            case .failure(.status):
                throw await failure(upstream, host: host, what: what)
            }
            // A piece may come back shorter than asked (a server that caps a 206): the rest is
            // asked for again from where it ended, as after a dropped connection.
            if let length = response.headers.first(name: "Content-Length").flatMap(Int64.init), piece ? have + length > end : have + length != end {
                if piece {
                    throw FerryError(.sizeMismatch, "\(source) answered bytes \(have)-\(end - 1) of \(what) with \(length) bytes")
                }
                if upstream.redirectedTo != nil {
                    throw FerryError(.sizeMismatch, "\(source) announced a length for \(what) that is not its descriptor's \(size) bytes")
                }
                throw FerryError(.sizeMismatch, "registry \(host) announced \(have + length) bytes for \(what), but its descriptor says \(size)")
            }
            let outcome = try await RangedDownload.receive(response.body, into: sink, from: have, size: end, rateLimiter: rateLimiter) { chunk, held in
                FerryMetrics.countUpstream(chunk)
                madeProgress()
                progress?(held)
            }
            switch outcome {
            case .complete:
                return
            case .overflow:
                throw FerryError(.sizeMismatch, "\(source) sent more than the \(piece ? "\(end - have) bytes asked" : "\(size) bytes") of \(what)")
            case .tooSlow:
                throw TransientFailure(FerryError(.upstreamUnreachable, "the download of \(what) from \(host) was too slow"))
            case .broke where upstream.redirectedTo != nil, .endedEarly where upstream.redirectedTo != nil:
                throw TransientFailure(FerryError(.upstreamUnreachable, "the download of \(what) from \(source) broke off"))
            case .broke(let at, let problem):
                throw TransientFailure(
                    FerryError(
                        .upstreamUnreachable,
                        "the download of \(what) from \(host) broke off at \(at) of \(size) bytes: \(problem?.description ?? "the stream failed")"))
            case .endedEarly(let at):
                throw TransientFailure(
                    FerryError(.upstreamUnreachable, "the download of \(what) from \(host) ended early at \(at) of \(size) bytes"))
            }
        }
    }
}
