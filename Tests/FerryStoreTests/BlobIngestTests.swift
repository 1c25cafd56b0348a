import FerryCore
import FerryStore
import Foundation
import Testing

@Suite("BlobStore ingest and commit")
struct BlobIngestTests {
    @Test func ingestAndCommitLandsInBlobsByHex() async throws {
        try await withTemporaryStore { store in
            let bytes = content(100)
            let digest = Digest.sha256(of: bytes)
            let ingest = try await store.ingest(digest, expectedSize: 100)
            for chunk in stride(from: 0, to: 100, by: 9) {
                try await ingest.write(buffer(bytes[chunk..<min(chunk + 9, 100)]))
            }
            #expect(await ingest.offset() == 100)
            try await ingest.commit()

            let path = "\(store.root)/blobs/sha256/\(digest.encoded)"
            #expect(store.path(for: digest) == path)
            #expect(FileManager.default.contents(atPath: path).map(Array.init) == bytes)
            #expect(store.contains(digest))
            #expect(store.size(of: digest) == 100)
            #expect(store.allBlobs() == [digest])
            #expect(store.ingestFiles().isEmpty)
            #expect(store.partialIngests().isEmpty)
        }
    }

    @Test func emptyBlobCommits() async throws {
        try await withTemporaryStore { store in
            let digest = Digest.sha256(of: [UInt8]())
            let ingest = try await store.ingest(digest, expectedSize: 0)
            try await ingest.commit()
            #expect(store.size(of: digest) == 0)
        }
    }

    @Test func wrongDigestIsDiscardedWithDigestMismatch() async throws {
        try await withTemporaryStore { store in
            let claimed = Digest.sha256(of: content(50, seed: 2))
            let ingest = try await store.ingest(claimed, expectedSize: 50)
            try await ingest.write(buffer(content(50, seed: 3)))
            do {
                try await ingest.commit()
                Issue.record("a blob with the wrong digest was committed")
            } catch let error as FerryError {
                #expect(error.code == .digestMismatch)
                #expect(error.message.contains(claimed.description))
            }
            #expect(!store.contains(claimed))
            #expect(store.committedFiles().isEmpty)
            #expect(store.ingestFiles().isEmpty)
            // The digest is free again.
            let retry = try await store.ingest(claimed, expectedSize: 50)
            #expect(await retry.offset() == 0)
            await retry.close()
        }
    }

    @Test func tooFewBytesIsASizeMismatch() async throws {
        try await withTemporaryStore { store in
            let bytes = content(40)
            let ingest = try await store.ingest(Digest.sha256(of: bytes), expectedSize: 40)
            try await ingest.write(buffer(bytes.prefix(39)))
            do {
                try await ingest.commit()
                Issue.record("a short blob was committed")
            } catch let error as FerryError {
                #expect(error.code == .sizeMismatch)
            }
            #expect(store.committedFiles().isEmpty)
            #expect(store.ingestFiles().isEmpty)
        }
    }

    @Test func writingPastTheExpectedSizeIsRefused() async throws {
        try await withTemporaryStore { store in
            let bytes = content(30)
            let digest = Digest.sha256(of: bytes)
            let ingest = try await store.ingest(digest, expectedSize: 30)
            try await ingest.write(buffer(bytes.prefix(20)))
            await #expect(throws: FerryError.self) { try await ingest.write(buffer(content(11))) }
            #expect(await ingest.offset() == 20)
            // The refused write changed nothing: the right bytes still commit.
            try await ingest.write(buffer(bytes.suffix(10)))
            try await ingest.commit()
            #expect(try await store.verify(digest))
        }
    }

    @Test func closeKeepsThePartialAndANewIngestResumes() async throws {
        try await withTemporaryStore { store in
            let bytes = content(1000)
            let digest = Digest.sha256(of: bytes)
            let first = try await store.ingest(digest, expectedSize: 1000)
            try await first.write(buffer(bytes.prefix(300)))
            try await first.write(buffer(bytes[300..<333]))  // some still buffered when closed
            await first.close()

            #expect(store.partialIngests().map(\.digest) == [digest])
            #expect(store.partialIngests().map(\.bytes) == [333])
            #expect(!store.contains(digest))

            let second = try await store.ingest(digest, expectedSize: 1000)
            #expect(await second.offset() == 333)
            try await second.write(buffer(bytes[333...]))
            try await second.commit()
            #expect(try await store.readAll(digest) == bytes)
            #expect(try await store.verify(digest))
            #expect(store.partialIngests().isEmpty)
        }
    }

    @Test func aPartialLargerThanExpectedStartsOver() async throws {
        try await withTemporaryStore { store in
            let bytes = content(64)
            let digest = Digest.sha256(of: bytes)
            let first = try await store.ingest(digest, expectedSize: 100)
            try await first.write(buffer(content(80, seed: 9)))
            await first.close()

            let second = try await store.ingest(digest, expectedSize: 64)
            #expect(await second.offset() == 0)
            try await second.write(buffer(bytes))
            try await second.commit()
            #expect(try await store.readAll(digest) == bytes)
        }
    }

    @Test func resetDiscardsWhatWasWritten() async throws {
        try await withTemporaryStore { store in
            let bytes = content(50)
            let digest = Digest.sha256(of: bytes)
            let ingest = try await store.ingest(digest, expectedSize: 50)
            try await ingest.write(buffer(content(30, seed: 4)))
            try await ingest.reset()
            #expect(await ingest.offset() == 0)
            try await ingest.write(buffer(bytes))
            try await ingest.commit()
            #expect(try await store.readAll(digest) == bytes)
        }
    }

    @Test func aSecondConcurrentIngestOfTheSameDigestIsBusy() async throws {
        try await withTemporaryStore { store in
            let digest = Digest.sha256(of: content(10))
            let first = try await store.ingest(digest, expectedSize: 10)
            do {
                _ = try await store.ingest(digest, expectedSize: 10)
                Issue.record("two ingests of one digest were open at once")
            } catch let error as FerryError {
                #expect(error.code == .busy)
                #expect(error.isTransient)
            }
            // Other digests are independent.
            let other = try await store.ingest(Digest.sha256(of: content(10, seed: 5)), expectedSize: 10)
            await other.close()
            await first.close()
            let again = try await store.ingest(digest, expectedSize: 10)
            await again.close()
        }
    }

    @Test func aClosedOrCommittedIngestRefusesMoreWork() async throws {
        try await withTemporaryStore { store in
            let bytes = content(5)
            let ingest = try await store.ingest(Digest.sha256(of: bytes), expectedSize: 5)
            try await ingest.write(buffer(bytes))
            try await ingest.commit()
            await #expect(throws: FerryError.self) { try await ingest.write(buffer([1])) }
            await #expect(throws: FerryError.self) { try await ingest.commit() }
            await ingest.close()  // harmless
            #expect(store.contains(Digest.sha256(of: bytes)))
        }
    }

    @Test func writeOfSmallBlobsVerifiesFirst() async throws {
        try await withTemporaryStore { store in
            let bytes = content(20)
            let digest = Digest.sha256(of: bytes)
            try await store.write(bytes, as: digest)
            try await store.write(bytes, as: digest)  // already there: no-op
            #expect(try await store.bytes(of: digest) == bytes)

            let wrong = Digest.sha256(of: content(20, seed: 8))
            await #expect(throws: FerryError.self) { try await store.write(bytes, as: wrong) }
            #expect(!store.contains(wrong))
            #expect(store.ingestFiles().isEmpty)
        }
    }
}
