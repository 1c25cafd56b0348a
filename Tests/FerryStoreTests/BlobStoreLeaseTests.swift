import FerryCore
import FerryStore
import FerryTestSupport
import Foundation
import NIOCore
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// What garbage collection may delete: `remove` refuses, under the store's locks, any blob that is
/// being written, read or leased at that moment.
@Suite("BlobStore leases and removal")
struct BlobStoreLeaseTests {
    /// A gate a test opens once: what a slow reader waits on.
    final class Gate: Sendable {
        private let state = Mutex<(open: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))
        private let enteredState = Mutex(false)

        var entered: Bool { enteredState.withLock { $0 } }

        func wait() async {
            enteredState.withLock { $0 = true }
            await withCheckedContinuation { continuation in
                let resumeNow = state.withLock { state -> Bool in
                    if state.open { return true }
                    state.waiters.append(continuation)
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        }

        func open() {
            let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
                state.open = true
                defer { state.waiters = [] }
                return state.waiters
            }
            for waiter in waiters { waiter.resume() }
        }
    }

    /// Waits for a state (generously: the simulator's synchronous tests can hold every
    /// cooperative thread for a while when all unit suites run together).
    static func until(_ condition: () -> Bool) async throws {
        try await waitUntil("a store state", every: .milliseconds(5)) { condition() }
    }

    @Test func aBlobBeingWrittenIsNotRemovedNorItsPartial() async throws {
        try await withTemporaryStore { store in
            let bytes = content(100)
            let digest = Digest.sha256(of: bytes)
            let ingest = try await store.ingest(digest, expectedSize: 100)
            try await ingest.write(buffer(bytes[0..<40]))
            #expect(store.remove(digest) == .inUse(.writing))
            #expect(store.digestsInUse()[digest] == .writing)
            try await ingest.write(buffer(bytes[40...]))
            try await ingest.commit()
            #expect(store.size(of: digest) == 100)
            #expect(store.remove(digest) == .removed(bytes: 100))
            #expect(!store.contains(digest))
            #expect(store.remove(digest) == .absent)
        }
    }

    @Test func aPartialLeftByAnEarlierRunIsRemovedWhenNoOneWritesIt() async throws {
        try await withTemporaryStore { store in
            let bytes = content(64)
            let digest = Digest.sha256(of: bytes)
            let ingest = try await store.ingest(digest, expectedSize: 64)
            try await ingest.write(buffer(bytes[0..<30]))
            await ingest.close()
            #expect(store.partialIngests().map(\.bytes) == [30])
            #expect(store.storedBlobs().map(\.committed) == [false])
            #expect(store.remove(digest) == .removed(bytes: 30))
            #expect(store.ingestFiles().isEmpty)
        }
    }

    @Test func aSlowReaderKeepsItsBlobAndReadsItWhole() async throws {
        try await withTemporaryStore { store in
            let bytes = content(100)
            let digest = Digest.sha256(of: bytes)
            try await store.write(bytes, as: digest)
            let gate = Gate()
            let reader = Task {
                var out: [UInt8] = []
                try await store.read(digest) { chunk in
                    if out.isEmpty { await gate.wait() }
                    out.append(contentsOf: chunk.readableBytesView)
                }
                return out
            }
            try await Self.until { gate.entered }
            #expect(store.remove(digest) == .inUse(.reading))
            #expect(store.digestsInUse()[digest] == .reading)
            gate.open()
            #expect(try await reader.value == bytes)
            #expect(store.digestsInUse().isEmpty)
            #expect(store.remove(digest) == .removed(bytes: 100))
        }
    }

    @Test func aCutThroughReaderKeepsTheBlobAfterItsCommit() async throws {
        try await withTemporaryStore { store in
            let bytes = content(100)
            let digest = Digest.sha256(of: bytes)
            let ingest = try await store.ingest(digest, expectedSize: 100)
            let progress = try #require(store.ingestProgress(digest))
            let gate = Gate()
            let reader = Task {
                var out: [UInt8] = []
                try await store.readGrowing(progress, range: 0..<100) { chunk in
                    if out.isEmpty { await gate.wait() }
                    out.append(contentsOf: chunk.readableBytesView)
                }
                return out
            }
            try await ingest.write(buffer(bytes))
            try await ingest.commit()
            try await Self.until { gate.entered }
            // The writer is done; the reader still holds the blob.
            #expect(store.remove(digest) == .inUse(.reading))
            gate.open()
            #expect(try await reader.value == bytes)
            #expect(store.remove(digest) == .removed(bytes: 100))
        }
    }

    @Test func aLeaseProtectsBlobsBeforeAndAfterTheyArrive() async throws {
        try await withTemporaryStore { store in
            let bytes = content(10)
            let digest = Digest.sha256(of: bytes)
            let other = Digest.sha256(of: content(11))
            store.lease("install target 7", adding: [digest])
            try await store.write(bytes, as: digest)
            #expect(store.remove(digest) == .inUse(.leased("install target 7")))
            store.lease("install target 7", adding: [other])
            #expect(store.leases["install target 7"] == [digest, other])
            store.releaseLease("install target 7")
            #expect(store.leases.isEmpty)
            #expect(store.remove(digest) == .removed(bytes: 10))

            try await store.write(bytes, as: digest)
            await store.withLease("scoped", on: [digest]) {
                #expect(store.remove(digest) == .inUse(.leased("scoped")))
            }
            #expect(store.remove(digest) == .removed(bytes: 10))
        }
    }

    @Test("Removal racing reads: a read either gets every byte or finds the blob gone, never a part")
    func removalRacingReads() async throws {
        try await withTemporaryStore(.init(reservedSpace: 0, writeBufferSize: 64, readChunkSize: 64)) { store in
            let bytes = content(4096)
            let digest = Digest.sha256(of: bytes)
            for _ in 0..<200 {
                try await store.write(bytes, as: digest)
                async let read: [UInt8]? = {
                    var out: [UInt8] = []
                    do {
                        try await store.read(digest) { out.append(contentsOf: $0.readableBytesView) }
                    } catch let error as FerryError where error.code == .blobUnknown {
                        #expect(out.isEmpty)
                        return nil
                    }
                    return out
                }()
                async let removal = { () async -> BlobStore.Removal in
                    await Task.yield()
                    return store.remove(digest)
                }()
                let (result, outcome) = try await (read, removal)
                if let result { #expect(result == bytes) }
                if case .inUse(let use) = outcome {
                    #expect(use == .reading)
                    #expect(store.remove(digest) == .removed(bytes: 4096))
                }
                #expect(!store.contains(digest))
            }
        }
    }

    @Test func storedBlobsListCommittedAndPartialWithTheirLastUse() async throws {
        try await withTemporaryStore { store in
            let committed = content(20)
            let digest = Digest.sha256(of: committed)
            try await store.write(committed, as: digest)
            let partial = Digest.sha256(of: content(30))
            let ingest = try await store.ingest(partial, expectedSize: 30)
            try await ingest.write(buffer(content(30)[0..<12]))
            await ingest.close()

            // Age the committed blob, then read it: the read counts as a use.
            var old = [timespec(tv_sec: 1_000_000, tv_nsec: 0), timespec(tv_sec: 1_000_000, tv_nsec: 0)]
            #expect(utimensat(AT_FDCWD, store.path(for: digest), &old, 0) == 0)
            #expect(store.storedBlobs().first { $0.digest == digest }?.lastUsed == Date(timeIntervalSince1970: 1_000_000))
            _ = try await store.readAll(digest)
            let listed = Dictionary(uniqueKeysWithValues: store.storedBlobs().map { ($0.digest, $0) })
            #expect(listed.count == 2)
            #expect(listed[digest]?.bytes == 20)
            #expect(listed[digest]?.committed == true)
            #expect(listed[digest]!.lastUsed > Date().addingTimeInterval(-60))
            #expect(listed[partial]?.bytes == 12)
            #expect(listed[partial]?.committed == false)
        }
    }

    @Test func makeRoomAsksTheHandlerOnlyWhileOneIsSet() async throws {
        try await withTemporaryStore { store in
            let asked = Mutex<[Int64]>([])
            await store.makeRoom(for: 10)
            store.setSpaceHandler { bytes in asked.withLock { $0.append(bytes) } }
            await store.makeRoom(for: 20)
            await store.makeRoom(for: 0)
            store.setSpaceHandler(nil)
            await store.makeRoom(for: 30)
            #expect(asked.withLock { $0 } == [20])
        }
    }

    @Test func diskUsageArithmetic() {
        let usage = DiskUsage(used: 900, available: 100)
        #expect(usage.capacity == 1000)
        #expect(usage.fraction == 0.9)
        #expect(!usage.exceeds(0.9))
        #expect(usage.exceeds(0.9, adding: 1))
        #expect(usage.bytesToFree(toReach: 0.75) == 150)
        #expect(usage.bytesToFree(toReach: 0.75, adding: 50) == 200)
        #expect(DiskUsage(used: 100, available: 900).bytesToFree(toReach: 0.75) == 0)
        #expect(DiskUsage(ofFileSystemAt: "/")!.capacity > 0)
    }
}
