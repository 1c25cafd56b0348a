import FerryRegistry
import FerryStore
import NIOCore

/// Lets a registry download write straight into a store ingest.
struct IngestSink: BlobSink {
    let ingest: BlobIngest

    func offset() async throws -> Int64 { await ingest.offset() }
    func write(_ chunk: ByteBuffer) async throws { try await ingest.write(chunk) }
    func reset() async throws { try await ingest.reset() }
}
