import FerryCore
import Testing

@testable import FerryStore

/// The store's single usage state, decided purely: who may write, read or remove a digest.
@Suite("BlobUsage")
struct BlobUsageTests {
    let digest = Digest.sha256(of: Array("blob".utf8))
    let other = Digest.sha256(of: Array("other".utf8))

    func writer(_ digest: Digest) -> IngestProgress { IngestProgress(digest: digest, expectedSize: 10, durable: 0) }

    @Test func nothingBlocksRemovalOfAnUnusedDigest() {
        var usage = BlobUsage()
        #expect(usage.mayRemove(digest) == nil)
        #expect(usage.claimRemoval(digest) == .claimed)
        #expect(usage.removing == [digest])
    }

    @Test func aWriterBlocksRemoval() {
        var usage = BlobUsage()
        #expect(usage.startWriting(writer(digest)) == .allowed)
        #expect(usage.mayRemove(digest) == .writing)
        #expect(usage.claimRemoval(digest) == .inUse(.writing))
        #expect(usage.removing.isEmpty)
        #expect(usage.claimRemoval(other) == .claimed, "only its own digest")
        usage.endWriting(digest)
        #expect(usage.claimRemoval(digest) == .claimed)
    }

    @Test func aReaderBlocksRemovalUntilTheLastOneEnds() {
        var usage = BlobUsage()
        usage.startReading(digest)
        usage.startReading(digest)
        #expect(usage.claimRemoval(digest) == .inUse(.reading))
        usage.endReading(digest)
        #expect(usage.mayRemove(digest) == .reading)
        usage.endReading(digest)
        #expect(usage.readers.isEmpty)
        #expect(usage.claimRemoval(digest) == .claimed)
    }

    @Test func aLeaseBlocksRemovalAndTheFirstLeaseByNameIsReported() {
        var usage = BlobUsage()
        usage.leases["target b"] = [digest]
        usage.leases["target a"] = [digest, other]
        #expect(usage.claimRemoval(digest) == .inUse(.leased("target a")))
        #expect(usage.inUse[digest] == .leased("target a"))
        usage.leases["target a"] = nil
        #expect(usage.mayRemove(digest) == .leased("target b"))
        #expect(usage.claimRemoval(other) == .claimed)
    }

    @Test func writingComesBeforeReadingBeforeALease() {
        var usage = BlobUsage()
        usage.leases["l"] = [digest]
        #expect(usage.use(of: digest) == .leased("l"))
        usage.startReading(digest)
        #expect(usage.use(of: digest) == .reading)
        #expect(usage.startWriting(writer(digest)) == .allowed, "readers and leases never hold a writer back")
        #expect(usage.use(of: digest) == .writing)
        #expect(usage.inUse == [digest: .writing])
    }

    @Test func oneWriterPerDigest() {
        var usage = BlobUsage()
        #expect(usage.startWriting(writer(digest)) == .allowed)
        #expect(usage.startWriting(writer(digest)) == .busy)
        #expect(usage.startWriting(writer(other)) == .allowed)
        usage.endWriting(digest)
        #expect(usage.mayStartWriting(digest) == .allowed)
    }

    @Test func aRemovalUnderWayHoldsWritersAndReadersOffAndIsClaimedOnce() {
        var usage = BlobUsage()
        #expect(usage.claimRemoval(digest) == .claimed)
        #expect(usage.claimRemoval(digest) == .alreadyRemoving)
        #expect(!usage.mayRead(digest))
        #expect(usage.mayRead(other))
        #expect(usage.startWriting(writer(digest)) == .removing)
        #expect(usage.writers.isEmpty)
        #expect(usage.inUse.isEmpty, "a removal is not a use")
        usage.endRemoval(digest)
        #expect(usage.mayRead(digest))
        #expect(usage.startWriting(writer(digest)) == .allowed)
    }
}
