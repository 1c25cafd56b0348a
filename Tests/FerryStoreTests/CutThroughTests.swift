import FerryConcurrency
import FerryCore
import FerryStore
import FerryTestSupport
import Foundation
import NIOCore
import Testing

/// What a follower's `/v2/` blob route relies on once the tracker lists a requester as a source
/// the moment it assigns it one: an ingest opened but still empty is served by cut-through (the
/// reader waits for bytes, no 404), and a reader whose feed stops or stalls gives up, so its
/// receiver fails over.
@Suite("Cut-through")
struct CutThroughTests {
    @Test func anOpenIngestWithNoBytesYetIsGrowingAndAReaderWaitsForItsBytes() async throws {
        try await withTemporaryStore { store in
            let bytes = content(100)
            let digest = Digest.sha256(of: bytes)
            guard case .absent = store.availability(of: digest) else { Issue.record("absent before the ingest opens"); return }
            let ingest = try await store.ingest(digest, expectedSize: 100)
            guard case .growing(let progress) = store.availability(of: digest) else { Issue.record("an open ingest is growing"); return }
            #expect(progress.snapshot.durable == 0)
            let reader = Task {
                var out: [UInt8] = []
                try await store.readGrowing(progress, range: 0..<100) { out.append(contentsOf: $0.readableBytesView) }
                return out
            }
            // The reader found no bytes and waits for the ingest's next change.
            try await waitUntil("the reader waits for bytes") { progress.signal.waiterCount == 1 }
            try await ingest.write(buffer(bytes))
            try await ingest.commit()
            #expect(try await reader.value == bytes)
        }
    }

    @Test func aReaderOfAFeedThatStallsGivesUp() async throws {
        try await withTemporaryStore { store in
            let digest = Digest.sha256(of: content(100))
            let ingest = try await store.ingest(digest, expectedSize: 100)
            guard case .growing(let progress) = store.availability(of: digest) else { Issue.record("an open ingest is growing"); return }
            // The stall, not the writer giving up, ends the read: the writer is still open.
            let error = await #expect(throws: FerryError.self) {
                try await store.readGrowing(progress, range: 0..<100, stallTimeout: .milliseconds(300)) { _ in }
            }
            #expect(error?.message.contains("stalled") == true, "\(String(describing: error))")
            guard case .growing = store.availability(of: digest) else { Issue.record("the ingest is still open"); return }
            await ingest.close()
        }
    }

    @Test func aReaderStopsWhenTheWriterGivesUp() async throws {
        try await withTemporaryStore { store in
            let digest = Digest.sha256(of: content(100))
            let ingest = try await store.ingest(digest, expectedSize: 100)
            guard case .growing(let progress) = store.availability(of: digest) else { Issue.record("an open ingest is growing"); return }
            let reader = Task { try await store.readGrowing(progress, range: 0..<100) { _ in } }
            try await waitUntil("the reader waits for bytes") { progress.signal.waiterCount == 1 }
            await ingest.close()
            await #expect(throws: FerryError.self) { try await reader.value }
            guard case .absent = store.availability(of: digest) else { Issue.record("absent once the writer gave up"); return }
        }
    }

    /// A reader whose client leaves is cancelled mid-read: NIOFileSystem does nothing, not even a
    /// close, in a cancelled task, and a file handle dropped open ends the process (a fatalError
    /// in release builds too). Its file must still be closed.
    @Test func aCancelledReaderClosesItsFile() async throws {
        try await withTemporaryStore { store in
            let bytes = content(100)
            let digest = Digest.sha256(of: bytes)
            let ingest = try await store.ingest(digest, expectedSize: 100)
            guard case .growing(let progress) = store.availability(of: digest) else { Issue.record("an open ingest is growing"); return }
            try await ingest.write(buffer(bytes[0..<40]))
            let partial = try #require(store.ingestFiles().first)
            let reader = Task { try await store.readGrowing(progress, range: 0..<100) { _ in } }
            try await waitUntil("the reader has the file open and waits for bytes") {
                progress.signal.waiterCount == 1 && Self.openDescriptors(endingWith: partial) == 2
            }
            reader.cancel()
            await #expect(throws: CancellationError.self) { try await reader.value }
            // Closed on NIOFileSystem's thread pool: within moments, not necessarily by the time
            // the read has thrown (a fresh-clone CI run under load saw 2 at once). A leaked one never closes.
            try await waitUntil("only the writer's descriptor is left", timeout: .seconds(10), every: .milliseconds(20)) {
                Self.openDescriptors(endingWith: partial) == 1
            }
            await ingest.close()
            #expect(Self.openDescriptors(endingWith: partial) == 0)
        }
    }

    /// This process's open descriptors on a file whose path ends with `suffix`.
    static func openDescriptors(endingWith suffix: String) -> Int {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        return names.filter { name in
            (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\(name)"))?.hasSuffix(suffix) == true
        }.count
    }
}
