import FerryCore
import FerryFormats
import FerryRegistry
import FerryStore
import FerryTransfer
import Foundation
import NIOCore

extension ProxyUpstream {
    /// `--no-cache`: streams `range` of a blob straight from upstream to `consume`, hashing every
    /// byte as it passes (resumes with `Range` included), nothing written to the store. As with
    /// the cache, the blob's last byte is sent only once the whole blob verified: on a mismatch the
    /// stream is cut.
    func streamUncached(
        _ upstream: ImageReference, digest: Digest, size: Int64, range: Range<Int64>, app: String, _ consume: (ByteBuffer) async throws -> Void
    ) async throws {
        let descriptor = Descriptor(mediaType: "application/octet-stream", digest: digest, size: size)
        do {
            try await withoutActuallyEscaping(consume) { consume in
                // The sink lives only for this call and is driven by the download in this task, one
                // write at a time: the non-Sendable consumer never crosses a task.
                let sink = VerifyingStreamSink(digest: digest, size: size, range: range, consume: consume)
                try await client.downloadBlob(repository: upstream, descriptor: descriptor, into: sink, logger: logger)
                try await sink.finish()
            }
        } catch where BlobStore.bytesAreBad(error) {
            Self.countMismatch(error, digest: digest, app: app, logger: logger)
            throw error
        }
    }
}

/// A download sink that forwards the bytes of `range` to a consumer as they arrive, hashing the
/// whole blob, and holds the blob's last byte back until ``finish()`` verified size and digest.
/// A restart from zero (the registry ignored `Range`) re-hashes without sending bytes twice.
final class VerifyingStreamSink: BlobSink, @unchecked Sendable {
    let digest: Digest
    let size: Int64
    let range: Range<Int64>
    private let consume: (ByteBuffer) async throws -> Void
    private var digester: Digester
    /// The blob offset of the next byte to arrive.
    private var position: Int64 = 0
    /// Bytes before this blob offset have been sent to the consumer (or lie before `range`).
    private var sentUpTo: Int64
    /// The blob's last byte, once it arrived (sent by ``finish()``).
    private var lastByte: ByteBuffer?

    init(digest: Digest, size: Int64, range: Range<Int64>, consume: @escaping (ByteBuffer) async throws -> Void) {
        self.digest = digest
        self.size = size
        self.range = range
        self.consume = consume
        self.digester = Digester(digest.algorithm)
        self.sentUpTo = range.lowerBound
    }

    func offset() async throws -> Int64 { position }

    /// The download starts over from byte 0 (the registry ignored `Range`): the blob is hashed
    /// again. Refused once bytes were sent: they would never be compared with the new ones.
    func reset() async throws {
        guard sentUpTo == range.lowerBound else {
            throw FerryError(.upstreamError, "blob \(digest) started over upstream after part of it was sent; retry")
        }
        digester = Digester(digest.algorithm)
        position = 0
        lastByte = nil
    }

    func write(_ chunk: ByteBuffer) async throws {
        let start = position
        let end = start + Int64(chunk.readableBytes)
        guard end <= size else { throw FerryError(.sizeMismatch, "upstream sent more than the \(size) bytes of blob \(digest)") }
        chunk.withUnsafeReadableBytes { digester.update($0) }
        position = end
        if end == size, range.contains(size - 1) { lastByte = chunk.getSlice(at: chunk.readerIndex + chunk.readableBytes - 1, length: 1) }
        // What of this chunk is in the range, not yet sent, and not the blob's last byte.
        let from = max(start, sentUpTo), to = min(end, range.upperBound, size - 1)
        guard from < to else { return }
        try await consume(chunk.getSlice(at: chunk.readerIndex + Int(from - start), length: Int(to - from))!)
        sentUpTo = to
    }

    /// After the download: the blob must be whole and match its digest; then the last byte goes out.
    func finish() async throws {
        guard position == size else { throw FerryError(.sizeMismatch, "upstream sent \(position) of the \(size) bytes of blob \(digest)") }
        let actual = digester.finalize()
        guard actual == digest else { throw FerryError(.digestMismatch, "blob \(digest) from upstream does not match its digest (got \(actual))") }
        if let lastByte { try await consume(lastByte) }
    }
}
