import FerryCore
import FerryStore
import FerryTestSupport
import Foundation
import Logging
import Synchronization
import Testing

@testable import FerryCoordinator

/// ``BlobRecheck``: a node's copy that its peers reported corrupt, hashed again on the leader's word.
@Suite("BlobRecheck")
struct BlobRecheckTests {
    private static let bytes = Array("a layer of some bytes".utf8)
    private static let digest = Digest.sha256(of: bytes)

    /// A store holding the blob, a recheck that records what it told the leader, and `body`.
    /// What the recheck told the leader is gone.
    private final class Told: Sendable {
        let gone = Mutex<[Digest]>([])
        var digests: [Digest] { gone.withLock { $0 } }
    }

    private static func withRecheck(_ body: (BlobStore, BlobRecheck, Told) async throws -> Void) async throws {
        try await withTemporaryDirectory("recheck") { dir in
            let store = try BlobStore(root: dir.sub("store"), configuration: .init(reservedSpace: 0))
            try await store.write(bytes, as: digest)
            let told = Told()
            let recheck = BlobRecheck(store: store, logger: Logger(label: "test"), busyRetry: .milliseconds(20), busyAttempts: 3) { digest, _ in
                told.gone.withLock { $0.append(digest) }
            }
            try await body(store, recheck, told)
        }
    }

    private static func damage(_ store: BlobStore) throws {
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: store.path(for: digest)))
        try handle.seek(toOffset: 2)
        try handle.write(contentsOf: Data("XX".utf8))
        try handle.close()
    }

    @Test("a sound copy stays and is not hashed again within the hour; a damaged one is removed and the leader told")
    func soundStaysDamagedGoes() async throws {
        try await Self.withRecheck { store, recheck, gone in
            #expect(await recheck.recheck(Self.digest) == .sound)
            // Damaged now, but found sound a moment ago: a liar asking again gets no second hash.
            try Self.damage(store)
            #expect(await recheck.recheck(Self.digest) == .recentlySound)
            #expect(store.contains(Self.digest) && gone.digests.isEmpty)
        }
        try await Self.withRecheck { store, recheck, gone in
            try Self.damage(store)
            #expect(await recheck.recheck(Self.digest) == .removed)
            #expect(!store.contains(Self.digest))
            #expect(!FileManager.default.fileExists(atPath: store.path(for: Self.digest)))
            #expect(gone.digests == [Self.digest])
            #expect(await recheck.recheck(Self.digest) == .absent)
            #expect(await recheck.recheck(Digest.sha256(of: Array("never held".utf8))) == .absent)
        }
    }

    @Test("a damaged copy an install holds (leased) is left to that install's own re-verification")
    func leasedCopyIsLeftAlone() async throws {
        try await Self.withRecheck { store, recheck, gone in
            try Self.damage(store)
            store.lease("target-1", adding: [Self.digest])
            #expect(await recheck.recheck(Self.digest) == .busy)
            #expect(store.contains(Self.digest) && gone.digests.isEmpty)
            // Once the install ends, the next request removes it.
            store.releaseLease("target-1")
            #expect(await recheck.recheck(Self.digest) == .removed)
        }
    }
}
