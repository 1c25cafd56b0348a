import FerryConcurrency
import FerryCore
import FerryStore
import FerryTestSupport
import Foundation
import NIOCore
import Synchronization
import Testing

/// The verified cut-through the follower's loopback registry serves its Docker engine: every byte
/// but the last as it lands, the last once the blob verified; a blob that fails verification
/// never completes. And expected arrivals: a blob announced but not started is waited for.
extension CutThroughTests {
    @Test func aVerifiedReaderGetsTheLastByteOnlyOnceTheBlobVerified() async throws {
        try await withTemporaryStore { store in
            let bytes = content(100)
            let digest = Digest.sha256(of: bytes)
            let ingest = try await store.ingest(digest, expectedSize: 100)
            guard case .growing(let progress) = store.availability(of: digest) else { Issue.record("an open ingest is growing"); return }
            let received = Mutex<[UInt8]>([])
            let reader = Task {
                try await store.readGrowing(progress, range: 0..<100, holdingBackUntilVerified: true) { chunk in
                    received.withLock { $0.append(contentsOf: chunk.readableBytesView) }
                }
            }
            // Every byte written and flushed (a 16-byte buffer): all but the last reach the reader.
            try await ingest.write(buffer(bytes))
            #expect(progress.snapshot.durable == 100)
            try await waitUntil("99 bytes sent") { received.withLock { $0.count } == 99 }
            try await Task.sleep(for: .milliseconds(50))
            #expect(received.withLock { $0.count } == 99, "the last byte waits for the digest")
            try await ingest.commit()
            try await reader.value
            #expect(received.withLock { $0 } == bytes)
        }
    }

    @Test func verifyReleasesTheLastByteBeforeTheCommitAndTheBlobIsStoredOnlyByTheCommit() async throws {
        try await withTemporaryStore { store in
            let bytes = content(100)
            let digest = Digest.sha256(of: bytes)
            let ingest = try await store.ingest(digest, expectedSize: 100)
            guard case .growing(let progress) = store.availability(of: digest) else { Issue.record("an open ingest is growing"); return }
            let reader = Task {
                var out: [UInt8] = []
                try await store.readGrowing(progress, range: 0..<100, holdingBackUntilVerified: true) { out.append(contentsOf: $0.readableBytesView) }
                return out
            }
            try await ingest.write(buffer(bytes))
            try await ingest.verify()
            // The whole blob reaches the reader with no commit (no fsync, no rename) yet...
            #expect(try await reader.value == bytes)
            #expect(progress.snapshot.verified && progress.snapshot.status == .active)
            // ...while the store does not hold it: not complete, not readable, nothing more may be written.
            #expect(!store.contains(digest) && store.size(of: digest) == nil)
            await #expect(throws: FerryError.self) { try await ingest.write(buffer([1])) }
            await #expect(throws: FerryError.self) { try await ingest.reset() }
            try await ingest.commit()
            #expect(store.contains(digest) && progress.snapshot.status == .committed)
            #expect(try await store.bytes(of: digest, limit: 1000) == bytes)
        }
    }

    @Test func aVerifiedIngestThatIsNeverCommittedLeavesOnlyAPartialToResume() async throws {
        try await withTemporaryStore { store in
            let bytes = content(80)
            let digest = Digest.sha256(of: bytes)
            let ingest = try await store.ingest(digest, expectedSize: 80)
            try await ingest.write(buffer(bytes))
            try await ingest.verify()
            // The writer goes away between verification and commit (as a crash would).
            await ingest.close()
            #expect(!store.contains(digest))
            guard case .absent = store.availability(of: digest) else { Issue.record("absent once the writer gave up"); return }
            let again = try await store.ingest(digest, expectedSize: 80)
            #expect(await again.offset() == 80, "the partial is resumed, re-hashed")
            try await again.commit()
            #expect(try await store.bytes(of: digest, limit: 1000) == bytes)
        }
    }

    @Test func verifyRefusesAWrongBlobAndDiscardsIt() async throws {
        try await withTemporaryStore { store in
            var bytes = content(64)
            let digest = Digest.sha256(of: bytes)
            bytes[3] ^= 0xff
            let ingest = try await store.ingest(digest, expectedSize: 64)
            guard case .growing(let progress) = store.availability(of: digest) else { Issue.record("an open ingest is growing"); return }
            try await ingest.write(buffer(bytes))
            let error = await #expect(throws: FerryError.self) { try await ingest.verify() }
            #expect(error?.code == .digestMismatch)
            #expect(!progress.snapshot.verified && progress.snapshot.status == .closed)
            let again = try await store.ingest(digest, expectedSize: 64)
            #expect(await again.offset() == 0, "the wrong bytes were discarded")
            await again.close()
        }
    }

    @Test func aVerifiedReaderOfABlobThatFailsVerificationNeverGetsItsLastByte() async throws {
        try await withTemporaryStore { store in
            let bytes = content(64)
            let digest = Digest.sha256(of: bytes)
            var wrong = bytes
            wrong[10] ^= 0xff
            let ingest = try await store.ingest(digest, expectedSize: 64)
            guard case .growing(let progress) = store.availability(of: digest) else { Issue.record("an open ingest is growing"); return }
            let received = Mutex(0)
            let reader = Task {
                try await store.readGrowing(progress, range: 0..<64, holdingBackUntilVerified: true) { chunk in
                    received.withLock { $0 += chunk.readableBytes }
                }
            }
            try await ingest.write(buffer(wrong))
            await #expect(throws: FerryError.self) { try await ingest.commit() }
            await #expect(throws: FerryError.self) { try await reader.value }
            #expect(received.withLock { $0 } < 64, "the wrong blob was never sent whole")
            // An unverified reader (a peer, which verifies itself) is not held back.
            #expect(store.expectedSize(of: digest) == nil)
        }
    }

    @Test func anExpectedArrivalIsWaitedForUntilItsIngestStartsOrItIsNoLongerExpected() async throws {
        try await withTemporaryStore { store in
            let bytes = content(40)
            let digest = Digest.sha256(of: bytes)
            let descriptor = Descriptor(mediaType: "application/octet-stream", digest: digest, size: 40)
            guard case .absent = try await store.awaitArrival(of: digest) else { Issue.record("not expected: absent at once"); return }
            store.expectArrivals("target 1", of: [descriptor])
            #expect(store.expectedSize(of: digest) == 40)
            let waiter = Task { try await store.awaitArrival(of: digest) }
            try await Task.sleep(for: .milliseconds(20))
            let ingest = try await store.ingest(digest, expectedSize: 40)
            guard case .growing(let progress) = try await waiter.value else { Issue.record("growing once its ingest opened"); return }
            #expect(progress.expectedSize == 40)
            try await ingest.write(buffer(bytes))
            try await ingest.commit()
            guard case .complete(size: 40) = try await store.awaitArrival(of: digest) else { Issue.record("complete"); return }

            let other = Digest.sha256(of: content(41))
            store.expectArrivals("target 2", of: [Descriptor(mediaType: "application/octet-stream", digest: other, size: 41)])
            let abandoned = Task { try await store.awaitArrival(of: other) }
            try await Task.sleep(for: .milliseconds(20))
            store.endArrivals("target 2")
            guard case .absent = try await abandoned.value else { Issue.record("absent once nobody expects it"); return }
            store.endArrivals("target 1")
            #expect(store.expectedSize(of: digest) == nil)
        }
    }
}

extension CutThroughTests {
    /// A relay receiving slower than its write buffer fills (1 MiB at 200 KiB/s is 5 s) would
    /// keep its cut-through readers waiting a stall timeout, and they would report it stalled.
    @Test func aSlowFeedIsWrittenOutAfterTheFlushIntervalNotOnlyWhenTheBufferFills() async throws {
        try await withTemporaryStore(.init(reservedSpace: 0, writeBufferSize: 1024, readChunkSize: 64, flushInterval: .seconds(2))) { store in
            let bytes = content(2000)
            let ingest = try await store.ingest(Digest.sha256(of: bytes), expectedSize: 2000)
            guard case .growing(let progress) = store.availability(of: Digest.sha256(of: bytes)) else { Issue.record("an open ingest is growing"); return }
            try await ingest.write(buffer(Array(bytes[0..<10])))
            #expect(progress.snapshot.durable == 0, "buffered: under the buffer's size, within the interval")
            try await Task.sleep(for: .milliseconds(2100))
            try await ingest.write(buffer(Array(bytes[10..<20])))
            #expect(progress.snapshot.durable == 20, "written out: the interval passed since the last write-out")
            try await ingest.write(buffer(Array(bytes[20...])))
            try await ingest.commit()
        }
    }
}
