import FerryFormats
import FerryStore
import FerryTransfer
import NIOCore

/// Lets an upstream download write straight into a store ingest (as the leader's).
struct IngestSink: BlobSink {
    let ingest: BlobIngest

    func offset() async throws -> Int64 { await ingest.offset() }
    func write(_ chunk: ByteBuffer) async throws { try await ingest.write(chunk) }
    func reset() async throws { try await ingest.reset() }
}
