import NIOCore

/// Where a blob download writes: typically a resumable ingest in the content store.
public protocol BlobSink: Sendable {
    /// Bytes already held: the offset to resume from.
    func offset() async throws -> Int64
    /// Appends the next bytes.
    func write(_ chunk: ByteBuffer) async throws
    /// Discards everything held (the server ignored `Range`, or the bytes were wrong).
    func reset() async throws
}
