import FerryConcurrency
import FerryCore
@testable import FerryStore
import FerryTestSupport
import NIOCore
import Testing

extension CutThroughTests {
    /// An ingest is announced before its file exists (`BlobStore.ingest` registers the writer,
    /// then opens the file): a reader that comes in between waits for the file instead of
    /// failing, which cut the Docker engine's pull from the loopback registry ("unexpected EOF",
    /// then dockerd's 5 s retry).
    @Test func aReaderThatComesBeforeTheIngestsFileWaitsForIt() async throws {
        try await withTemporaryStore { store in
            let bytes = content(100)
            let digest = Digest.sha256(of: bytes)
            // The first half of `ingest(_:expectedSize:)`: the writer registered, no file yet.
            let progress = IngestProgress(digest: digest, expectedSize: 100, durable: 0)
            #expect(store.withUsage { $0.startWriting(progress) } == .allowed)
            guard case .growing = store.availability(of: digest) else { Issue.record("a registered writer is growing"); return }
            let reader = Task {
                var out: [UInt8] = []
                try await store.readGrowing(progress, range: 0..<100, holdingBackUntilVerified: true) { out.append(contentsOf: $0.readableBytesView) }
                return out
            }
            try await waitUntil("the reader waits for the ingest's file") { progress.signal.waiterCount == 1 }
            // The second half: the file opened, the bytes written and committed.
            let ingest = try await BlobIngest.open(store: store, digest: digest, expectedSize: 100, progress: progress)
            try await ingest.write(buffer(bytes))
            try await ingest.commit()
            #expect(try await reader.value == bytes)
        }
    }
}
