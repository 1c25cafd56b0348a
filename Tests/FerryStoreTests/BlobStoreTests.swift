import FerryCore
import FerryStore
import Foundation
import NIOCore
import Testing

@Suite("BlobStore")
struct BlobStoreTests {
    @Test func createsItsLayout() async throws {
        try await withTemporaryStore { store in
            for directory in ["blobs/sha256", "blobs/sha512", "ingest/sha256", "ingest/sha512"] {
                var isDirectory: ObjCBool = false
                #expect(FileManager.default.fileExists(atPath: "\(store.root)/\(directory)", isDirectory: &isDirectory) && isDirectory.boolValue)
            }
        }
    }

    @Test func aRootUnderAFileIsAConfigurationError() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("ferry-file-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: file) }
        #expect(FileManager.default.createFile(atPath: file, contents: Data()))
        do {
            _ = try BlobStore(root: "\(file)/store")
            Issue.record("a store was created under a regular file")
        } catch {
            #expect(error.code == .configuration)
            #expect(error.message.contains(file))
        }
    }

    static let ranges: [Range<Int64>?] = [nil, 0..<100, 0..<1, 10..<20, 93..<100, 99..<100, 50..<50]

    @Test("reads whole blobs and ranges in chunks", arguments: ranges)
    func readsRanges(_ range: Range<Int64>?) async throws {
        try await withTemporaryStore { store in
            let bytes = content(100)
            let digest = Digest.sha256(of: bytes)
            try await store.write(bytes, as: digest)
            let expected = range.map { Array(bytes[Int($0.lowerBound)..<Int($0.upperBound)]) } ?? bytes
            var chunks = 0
            var out: [UInt8] = []
            try await store.read(digest, range: range) { chunk in
                chunks += 1
                #expect(chunk.readableBytes <= 7)  // the configured chunk size
                out.append(contentsOf: chunk.readableBytesView)
            }
            #expect(out == expected)
            #expect(chunks >= (expected.count + 6) / 7)
        }
    }

    @Test func readOutsideTheBlobIsRefused() async throws {
        try await withTemporaryStore { store in
            let bytes = content(10)
            let digest = Digest.sha256(of: bytes)
            try await store.write(bytes, as: digest)
            for range: Range<Int64> in [0..<11, 10..<12, -1..<3] {
                do {
                    _ = try await store.readAll(digest, range: range)
                    Issue.record("read \(range) of a 10-byte blob")
                } catch let error as FerryError {
                    #expect(error.code == .rangeNotSatisfiable)
                }
            }
        }
    }

    @Test func unknownBlobIsBlobUnknown() async throws {
        try await withTemporaryStore { store in
            let digest = Digest.sha256(of: content(3))
            do {
                _ = try await store.readAll(digest)
                Issue.record("read a blob the store does not hold")
            } catch let error as FerryError {
                #expect(error.code == .blobUnknown)
            }
            #expect(store.size(of: digest) == nil)
            await #expect(throws: FerryError.self) { try await store.bytes(of: digest) }
        }
    }

    @Test func bytesOfRefusesBlobsOverTheLimit() async throws {
        try await withTemporaryStore { store in
            let bytes = content(100)
            let digest = Digest.sha256(of: bytes)
            try await store.write(bytes, as: digest)
            #expect(try await store.bytes(of: digest, limit: 100) == bytes)
            await #expect(throws: FerryError.self) { try await store.bytes(of: digest, limit: 99) }
        }
    }

    @Test func verifyDetectsACorruptedBlob() async throws {
        try await withTemporaryStore { store in
            let bytes = content(64)
            let digest = Digest.sha256(of: bytes)
            try await store.write(bytes, as: digest)
            #expect(try await store.verify(digest))

            var corrupted = bytes
            corrupted[17] ^= 0x01
            try Data(corrupted).write(to: URL(fileURLWithPath: store.path(for: digest)))
            #expect(try await store.verify(digest) == false)
        }
    }

    /// A re-verification cancelled mid-read (a follower stopping) must never take a sound blob
    /// for a bad one: NIO's chunk stream can end quietly when its task is cancelled.
    @Test("verify cancelled at any point either finishes true or throws: never false for a sound blob")
    func cancelledVerifyIsNeverFalse() async throws {
        try await withTemporaryStore(.init(reservedSpace: 0, readChunkSize: 4096)) { store in
            let bytes = content(2 * 1024 * 1024)
            let digest = Digest.sha256(of: bytes)
            try await store.write(bytes, as: digest)
            for delay in 0..<24 {
                let verifying = Task { try await store.verify(digest) }
                try await Task.sleep(for: .microseconds(delay * 250))
                verifying.cancel()
                if let result = try? await verifying.value {
                    #expect(result, "a cancelled verify (after \(delay * 250) µs) said a sound blob was bad")
                }
            }
            // A reader busy with each chunk when the cancel comes (as hashing is): it gets every
            // byte, or an error, never a short read that ends as if the blob did.
            for delay in 0..<12 {
                let reading = Task { () -> Int in
                    var count = 0
                    try await store.read(digest) { chunk in
                        count += chunk.readableBytes
                        let busy = ContinuousClock.now
                        while ContinuousClock.now - busy < .microseconds(100) {}
                    }
                    return count
                }
                try await Task.sleep(for: .milliseconds(delay))
                reading.cancel()
                if let count = try? await reading.value {
                    #expect(count == bytes.count, "a cancelled read (after \(delay) ms) ended after \(count) of \(bytes.count) bytes without an error")
                }
            }
        }
    }

    @Test func ensureSpaceWithAHugeReserveFailsClearly() async throws {
        try await withTemporaryStore(.init(reservedSpace: 1 << 60)) { store in
            do {
                try store.ensureSpace(for: 1024, what: "blob sha256:abc")
                Issue.record("an exabyte reserve was satisfied")
            } catch let error as FerryError {
                #expect(error.code == .insufficientSpace)
                #expect(error.message.contains("not enough disk space"))
                #expect(error.message.contains(store.root))
                #expect(error.message.contains("blob sha256:abc"))
                #expect(error.message.contains("1.0 KiB"))
                #expect(error.message.contains("reserve"))
            }
        }
    }

    @Test func ensureSpaceReservesRoomForADownloadAndCountsItForTheOthers() async throws {
        try await withTemporaryStore { store in
            let free = try #require(store.freeSpace())
            try #require(free > 2 << 30, "needs 2 GiB free")
            // A download asking more than the disk has is refused and holds nothing.
            let huge = Digest.sha256(of: [7])
            let hugeIngest = try await store.ingest(huge, expectedSize: 1 << 50)
            #expect(throws: FerryError.self) { try store.ensureSpace(for: 1 << 50, what: "blob \(huge)", excluding: huge) }
            #expect(store.reservedForDownloads == 0)
            try store.ensureSpace(for: 1024, what: "blob sha256:abc")
            await hugeIngest.close(discard: true)
            // One granted all but 512 MiB of the free space: another asking 1 GiB is refused,
            // naming it; a small one still fits; once it ends, its room is free again.
            let big = Digest.sha256(of: [8])
            let bigIngest = try await store.ingest(big, expectedSize: free)
            try store.ensureSpace(for: free - (512 << 20), what: "blob \(big)", excluding: big)
            #expect(store.reservedForDownloads == free - (512 << 20))
            do {
                try store.ensureSpace(for: 1 << 30, what: "blob sha256:abc")
                Issue.record("a GiB fitted beside a download granted all but 512 MiB")
            } catch let error as FerryError {
                #expect(error.code == .insufficientSpace)
                #expect(error.message.contains("other downloads under way"), "\(error.message)")
            }
            try store.ensureSpace(for: 1 << 20, what: "blob sha256:abc")
            await bigIngest.close(discard: true)
            #expect(store.reservedForDownloads == 0)
        }
    }

    @Test func ensureSpaceSaturatesInsteadOfOverflowing() async throws {
        try await withTemporaryStore(.init(reservedSpace: .max)) { store in
            #expect(throws: FerryError.self) { try store.ensureSpace(for: .max, what: "a hostile descriptor") }
            #expect(throws: FerryError.self) { try store.ensureSpace(for: 1, what: "a blob") }
        }
        try await withTemporaryStore(.init(reservedSpace: 256 * 1024 * 1024)) { store in
            #expect(throws: FerryError.self) { try store.ensureSpace(for: .max, what: "a hostile descriptor") }
        }
    }

    @Test func ensureSpaceWithRoomPasses() async throws {
        try await withTemporaryStore(.init(reservedSpace: 0)) { store in
            try store.ensureSpace(for: 1, what: "a byte")
            try store.ensureSpace(for: 0, what: "nothing")
            #expect((store.freeSpace() ?? 0) > 0)
        }
    }

    @Test func partialIngestsListsEachWithItsBytesSorted() async throws {
        try await withTemporaryStore { store in
            let digests = (1...3).map { Digest.sha256(of: content(10, seed: UInt8($0))) }
            for (index, digest) in digests.enumerated() {
                let ingest = try await store.ingest(digest, expectedSize: 100)
                try await ingest.write(buffer(content(index + 1)))
                await ingest.close()
            }
            // Junk in the ingest directory is ignored.
            _ = FileManager.default.createFile(atPath: "\(store.root)/ingest/sha256/not-a-digest.partial", contents: Data([1]))
            _ = FileManager.default.createFile(atPath: "\(store.root)/ingest/sha256/stray.tmp", contents: Data([1]))
            let partials = store.partialIngests()
            #expect(partials.map(\.digest) == digests.sorted())
            let bytesByDigest = Dictionary(uniqueKeysWithValues: partials.map { ($0.digest, $0.bytes) })
            #expect(digests.enumerated().allSatisfy { bytesByDigest[$1] == Int64($0 + 1) })
        }
    }

    @Test func deleteRemovesTheBlobAndItsPartial() async throws {
        try await withTemporaryStore { store in
            let bytes = content(10)
            let digest = Digest.sha256(of: bytes)
            try await store.write(bytes, as: digest)
            let ingest = try await store.ingest(digest, expectedSize: 10)
            try await ingest.write(buffer(bytes.prefix(4)))
            #expect(throws: FerryError.self) { try store.delete(digest) }  // being written
            await ingest.close()
            #expect(store.partialIngests().count == 1)

            try store.delete(digest)
            #expect(!store.contains(digest))
            #expect(store.partialIngests().isEmpty)
            try store.delete(digest)  // deleting what is gone is fine
        }
    }

    @Test func allBlobsIgnoresJunkFileNames() async throws {
        try await withTemporaryStore { store in
            let bytes = content(10)
            try await store.write(bytes, as: Digest.sha256(of: bytes))
            _ = FileManager.default.createFile(atPath: "\(store.root)/blobs/sha256/README", contents: Data())
            #expect(store.allBlobs() == [Digest.sha256(of: bytes)])
        }
    }
}

@Suite("BlobStore.digest(ofFileAt:)")
struct FileDigestTests {
    @Test(arguments: [0, 1, 5, 4096, 100_000])
    func matchesTheInMemoryDigest(size: Int) async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("ferry-digest-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let bytes = content(size)
        #expect(FileManager.default.createFile(atPath: path, contents: Data(bytes)))
        #expect(try await BlobStore.digest(ofFileAt: path, chunkSize: 1000) == Digest.sha256(of: bytes))
        #expect(try await BlobStore.digest(ofFileAt: path) == Digest.sha256(of: bytes))
    }

    @Test func knownVector() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("ferry-digest-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect(FileManager.default.createFile(atPath: path, contents: Data("abc".utf8)))
        #expect(try await BlobStore.digest(ofFileAt: path).encoded == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        let sha512 = try await BlobStore.digest(ofFileAt: path, algorithm: .sha512)
        #expect(sha512.algorithm == .sha512)
        #expect(sha512.encoded.hasPrefix("ddaf35a193617aba"))
    }

    @Test func missingFileThrows() async {
        await #expect(throws: (any Error).self) { try await BlobStore.digest(ofFileAt: "/nonexistent/ferry-\(UUID().uuidString)") }
    }
}
