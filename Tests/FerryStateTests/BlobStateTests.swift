import FerryCore
import FerryState
import Foundation
import Testing

@Suite("FerryDatabase blobs")
struct BlobStateTests {
    typealias F = StateFixtures

    func resolved() async throws -> (FerryDatabase, Int64) {
        let database = try FerryDatabase.inMemory()
        let id = try #require(try await database.requestImage(F.reference("a/b"), platform: F.amd64).id)
        try await database.recordResolution(imageID: id, F.resolution())
        return (database, id)
    }

    @Test func setBlobStateTracksProgressAndErrors() async throws {
        let (database, _) = try await resolved()
        let digest = F.layer2.digest
        try await database.setBlobState(digest, .fetching, bytesDone: 500)
        var blob = try #require(try await database.blob(digest))
        #expect(blob.state == .fetching)
        #expect(blob.bytesDone == 500)

        try await database.setBlobState(digest, .failed, error: FerryError(.digestMismatch, "bad bytes"))
        blob = try #require(try await database.blob(digest))
        #expect(blob.state == .failed)
        #expect(blob.bytesDone == 500)
        #expect(blob.errorCode == "DIGEST_MISMATCH")
        #expect(blob.errorMessage == "bad bytes")

        try await database.setBlobState(digest, .fetching, bytesDone: 0)
        blob = try #require(try await database.blob(digest))
        #expect(blob.errorCode == nil)
        #expect(blob.errorMessage == nil)
        #expect(blob.bytesDone == 0)

        try await database.setBlobState(digest, .present)
        blob = try #require(try await database.blob(digest))
        #expect(blob.state == .present)
        #expect(blob.bytesDone == 2000)
        #expect(try await database.presentBlobs().map(\.digest) == [digest])
    }

    @Test func setBlobStateOfAnUnknownBlobIsANoOp() async throws {
        let (database, _) = try await resolved()
        try await database.setBlobState(F.digest("f"), .present)
        #expect(try await database.blob(F.digest("f")) == nil)
    }

    @Test func recordProgressUpdatesOnlyBlobsBeingFetched() async throws {
        let (database, _) = try await resolved()
        try await database.setBlobState(F.layer1.digest, .fetching)
        try await database.setBlobState(F.layer2.digest, .present)
        try await database.recordProgress([F.layer1.digest: 640, F.layer2.digest: 1, F.config.digest: 50, F.digest("f"): 9])
        #expect(try await database.blob(F.layer1.digest)?.bytesDone == 640)
        #expect(try await database.blob(F.layer2.digest)?.bytesDone == 2000)
        #expect(try await database.blob(F.config.digest)?.bytesDone == 0)
        try await database.recordProgress([:])
    }

    @Test func blobsAreSharedBetweenImages() async throws {
        let (database, first) = try await resolved()
        let second = try #require(try await database.requestImage(F.reference("a/c"), platform: F.amd64).id)
        try await database.recordResolution(imageID: second, F.resolution(top: "d", image: "e", blobs: [F.config, F.layer2]))
        try await database.setBlobState(F.config.digest, .present)
        try await database.setBlobState(F.layer2.digest, .present)
        #expect(try await database.markImagePresent(imageID: second))
        #expect(try await database.markImagePresent(imageID: first) == false)
        #expect(try await database.blobs(ofImage: first).map(\.state) == [.present, .missing, .present])
    }
}
