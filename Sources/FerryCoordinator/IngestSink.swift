import FerryStore
import FerryTransfer
import NIOCore

/// Lets a download (upstream or mesh) write straight into a store ingest.
struct IngestSink: BlobSink {
    let ingest: BlobIngest

    func offset() async throws -> Int64 { await ingest.offset() }
    func write(_ chunk: ByteBuffer) async throws { try await ingest.write(chunk) }
    func reset() async throws { try await ingest.reset() }
}
