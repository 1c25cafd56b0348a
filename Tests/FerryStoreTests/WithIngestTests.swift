import FerryCore
import FerryStore
import Foundation
import Testing

/// `withIngest` closes its ingest on every path: kept for a resume, discarded after bad bytes,
/// and released even when the task is cancelled.
@Suite("BlobStore.withIngest")
struct WithIngestTests {
    /// Descriptors of this process open on `path` right now.
    static func descriptors(openOn path: String) -> Int {
        let fds = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        return fds.filter { (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\($0)")) == path }.count
    }

    static func partialPath(_ store: BlobStore, _ digest: Digest) -> String {
        "\(store.root)/ingest/\(digest.algorithm.rawValue)/\(digest.encoded).partial"
    }

    @Test func aCommitInTheBodyStoresTheBlob() async throws {
        try await withTemporaryStore { store in
            let bytes = content(100)
            let digest = Digest.sha256(of: bytes)
            let size = try await store.withIngest(digest, expectedSize: 100) { ingest in
                try await ingest.write(buffer(bytes))
                try await ingest.commit()
                return await ingest.offset()
            }
            #expect(size == 100)
            #expect(try await store.readAll(digest) == bytes)
            #expect(store.ingestFiles().isEmpty)
            #expect(store.use(of: digest) == nil)
        }
    }

    @Test func aBodyThatThrowsKeepsThePartialForAResume() async throws {
        try await withTemporaryStore { store in
            let bytes = content(100)
            let digest = Digest.sha256(of: bytes)
            await #expect(throws: FerryError.self) {
                try await store.withIngest(digest, expectedSize: 100) { ingest in
                    try await ingest.write(buffer(bytes[0..<40]))
                    throw FerryError(.upstreamUnreachable, "the registry went away")
                }
            }
            #expect(store.ingestFiles().count == 1)
            #expect(store.use(of: digest) == nil)
            #expect(Self.descriptors(openOn: Self.partialPath(store, digest)) == 0)
            try await store.withIngest(digest, expectedSize: 100) { ingest in
                #expect(await ingest.offset() == 40)
                try await ingest.write(buffer(bytes[40...]))
                try await ingest.commit()
            }
            #expect(try await store.verify(digest))
        }
    }

    @Test func aBodyThatReturnsWithoutACommitKeepsThePartial() async throws {
        try await withTemporaryStore { store in
            let bytes = content(50)
            let digest = Digest.sha256(of: bytes)
            try await store.withIngest(digest, expectedSize: 50) { try await $0.write(buffer(bytes[0..<20])) }
            let held = try await store.withIngest(digest, expectedSize: 50) { await $0.offset() }
            #expect(held == 20)
        }
    }

    @Test(arguments: [FerryError.Code.digestMismatch, .sizeMismatch])
    func bytesFoundBadAreDiscarded(_ code: FerryError.Code) async throws {
        try await withTemporaryStore { store in
            let bytes = content(100)
            let digest = Digest.sha256(of: bytes)
            await #expect(throws: FerryError.self) {
                try await store.withIngest(digest, expectedSize: 100) { ingest in
                    try await ingest.write(buffer(bytes[0..<40]))
                    throw FerryError(code, "a source sent bytes that are not the blob's")
                }
            }
            #expect(store.ingestFiles().isEmpty)
            let held = try await store.withIngest(digest, expectedSize: 100) { await $0.offset() }
            #expect(held == 0)
        }
    }

    @Test func aFailedCommitDiscardsAndTheErrorComesThrough() async throws {
        try await withTemporaryStore { store in
            let digest = Digest.sha256(of: content(50))
            let error = await #expect(throws: FerryError.self) {
                try await store.withIngest(digest, expectedSize: 50) { ingest in
                    try await ingest.write(buffer(content(50, seed: 9)))
                    try await ingest.commit()
                }
            }
            #expect(error?.code == .digestMismatch)
            #expect(store.ingestFiles().isEmpty)
            #expect(!store.contains(digest))
        }
    }

    @Test func aCancelledTaskClosesTheIngestAndFreesTheDigest() async throws {
        try await withTemporaryStore { store in
            let bytes = content(100)
            let digest = Digest.sha256(of: bytes)
            let writer = Task {
                try await store.withIngest(digest, expectedSize: 100) { ingest in
                    try await ingest.write(buffer(bytes[0..<40]))
                    try await Task.sleep(for: .seconds(600))
                }
            }
            // The test configuration's 16-byte write buffer has flushed the 40 bytes.
            try await BlobStoreLeaseTests.until { store.ingestProgress(digest)?.snapshot.durable == 40 }
            #expect(Self.descriptors(openOn: Self.partialPath(store, digest)) == 1)
            writer.cancel()
            await #expect(throws: CancellationError.self) { try await writer.value }

            #expect(Self.descriptors(openOn: Self.partialPath(store, digest)) == 0)
            #expect(store.use(of: digest) == nil)
            #expect(store.ingestFiles().count == 1, "the partial stays for a resume")
            // Opens without `.busy`, and resumes.
            try await store.withIngest(digest, expectedSize: 100) { ingest in
                #expect(await ingest.offset() == 40)
                try await ingest.write(buffer(bytes[40...]))
                try await ingest.commit()
            }
            #expect(try await store.readAll(digest) == bytes)
        }
    }

    @Test func anIngestWaitsForARemovalUnderWayThenStartsAfresh() async throws {
        try await withTemporaryStore { store in
            let bytes = content(100)
            let digest = Digest.sha256(of: bytes)
            try await store.write(bytes, as: digest)
            #expect(store.beginRemoval(digest) == nil)
            #expect(store.size(of: digest) == nil, "a blob being removed counts as absent")
            let unknown = await #expect(throws: FerryError.self) { try await store.readAll(digest) }
            #expect(unknown?.code == .blobUnknown)
            #expect(store.beginRemoval(digest) == .absent, "claimed once")
            #expect(store.digestsInUse().isEmpty)

            let waiting = Task { try await store.withIngest(digest, expectedSize: 100) { await $0.offset() } }
            try await Task.sleep(for: .milliseconds(50))
            #expect(store.ingestProgress(digest) == nil, "the ingest has not started")
            #expect(store.finishRemoval(digest) == .removed(bytes: 100))
            #expect(try await waiting.value == 0)
            #expect(!store.contains(digest))
        }
    }
}
