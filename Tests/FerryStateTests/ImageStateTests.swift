import FerryCore
import FerryState
import Foundation
import GRDB
import Testing

@Suite("FerryDatabase images")
struct ImageStateTests {
    typealias F = StateFixtures

    @Test func requestImageIsIdempotentPerReferenceAndPlatform() async throws {
        let database = try FerryDatabase.inMemory()
        let first = try await database.requestImage(F.reference("alpine"), platform: F.amd64)
        let again = try await database.requestImage(F.reference("docker.io/library/alpine:latest"), platform: F.amd64)
        let otherPlatform = try await database.requestImage(F.reference("alpine"), platform: F.arm64)
        let otherTag = try await database.requestImage(F.reference("alpine:3"), platform: F.amd64)
        #expect(first.id != nil)
        #expect(again.id == first.id)
        #expect(otherPlatform.id != first.id)
        #expect(otherTag.id != first.id)
        #expect(try await database.images().count == 3)
        #expect(first.state == .pending)
        #expect(first.registry == "docker.io")
        #expect(first.repository == "library/alpine")
        #expect(first.tag == "latest")
        #expect(first.platform == "linux/amd64")
    }

    @Test func requestingAFailedOrPresentImageAgainSetsItBackToPending() async throws {
        let database = try FerryDatabase.inMemory()
        let failed = try await database.requestImage(F.reference("a/b:1"), platform: F.amd64)
        let failedID = try #require(failed.id)
        try await database.markImageFailed(imageID: failedID, error: FerryError(.manifestUnknown, "gone"))
        let retried = try await database.requestImage(F.reference("a/b:1"), platform: F.amd64)
        #expect(retried.id == failedID)
        #expect(retried.state == .pending)
        #expect(retried.errorCode == nil)
        #expect(retried.errorMessage == nil)
        #expect(try await database.image(id: failedID)?.state == .pending)

        let present = try await database.storePresentImage("a/b:2")
        #expect(present.state == .present)
        let refreshed = try await database.requestImage(F.reference("a/b:2"), platform: F.amd64)
        #expect(refreshed.id == present.id)
        #expect(refreshed.state == .pending)
    }

    @Test func requestingAnImageBeingFetchedLeavesItFetching() async throws {
        let database = try FerryDatabase.inMemory()
        let id = try #require(try await database.requestImage(F.reference("a/b"), platform: F.amd64).id)
        try await database.recordResolution(imageID: id, F.resolution())
        let again = try await database.requestImage(F.reference("a/b"), platform: F.amd64)
        #expect(again.state == .fetching)
        #expect(again.manifestDigest == F.digest("b"))
    }

    @Test func recordResolutionStoresManifestsBlobsAndLinks() async throws {
        let database = try FerryDatabase.inMemory()
        let id = try #require(try await database.requestImage(F.reference("ghcr.io/o/app:1"), platform: F.amd64).id)
        try await database.recordResolution(imageID: id, F.resolution())

        let image = try #require(try await database.image(id: id))
        #expect(image.state == .fetching)
        #expect(image.topDigest == F.digest("a"))
        #expect(image.manifestDigest == F.digest("b"))
        #expect(image.resolvedPlatform == "linux/amd64")
        #expect(image.size == 3100)

        let blobs = try await database.blobs(ofImage: id)
        #expect(blobs.map(\.digest) == [F.config.digest, F.layer1.digest, F.layer2.digest])
        #expect(blobs.allSatisfy { $0.state == .missing && $0.bytesDone == 0 })
        #expect(blobs.map(\.size) == [100, 1000, 2000])
        #expect(blobs.first?.mediaType == MediaType.dockerConfig)

        let top = try #require(try await database.manifest(F.digest("a")))
        #expect(top.mediaType == MediaType.dockerManifestList)
        #expect(top.bytes == Data(#"{"m":"a"}"#.utf8))
        #expect(top.size == Int64(top.bytes.count))
        #expect(try await database.manifest(F.digest("9")) == nil)
    }

    @Test func reResolvingReplacesLinksAndKeepsSharedBlobState() async throws {
        let database = try FerryDatabase.inMemory()
        let id = try #require(try await database.requestImage(F.reference("a/b"), platform: F.amd64).id)
        try await database.recordResolution(imageID: id, F.resolution())
        try await database.setBlobState(F.layer1.digest, .present)

        let layer3 = Descriptor(mediaType: MediaType.ociLayerGzip, digest: F.digest("3"), size: 7)
        try await database.recordResolution(imageID: id, F.resolution(top: "e", image: "f", blobs: [F.config, F.layer1, layer3]))
        let blobs = try await database.blobs(ofImage: id)
        #expect(blobs.map(\.digest) == [F.config.digest, F.layer1.digest, layer3.digest])
        #expect(blobs.map(\.state) == [.missing, .present, .missing])
        #expect(try await database.image(id: id)?.size == 1107)
        #expect(try await database.image(id: id)?.topDigest == F.digest("e"))
    }

    @Test func recordResolutionOfAnUnknownImageIsANoOp() async throws {
        let database = try FerryDatabase.inMemory()
        try await database.recordResolution(imageID: 42, F.resolution())
        #expect(try await database.images().isEmpty)
    }

    @Test func markImagePresentOnlyWhenEveryBlobIsPresent() async throws {
        let database = try FerryDatabase.inMemory()
        let id = try #require(try await database.requestImage(F.reference("a/b"), platform: F.amd64).id)
        #expect(try await database.markImagePresent(imageID: id) == false)  // not even resolved
        try await database.recordResolution(imageID: id, F.resolution())
        #expect(try await database.markImagePresent(imageID: id) == false)

        try await database.setBlobState(F.config.digest, .present)
        try await database.setBlobState(F.layer1.digest, .present)
        try await database.setBlobState(F.layer2.digest, .fetching, bytesDone: 1999)
        #expect(try await database.markImagePresent(imageID: id) == false)
        #expect(try await database.image(id: id)?.state == .fetching)
        #expect(try await database.image(id: id)?.fetchedAt == nil)

        try await database.setBlobState(F.layer2.digest, .present)
        #expect(try await database.markImagePresent(imageID: id))
        let image = try #require(try await database.image(id: id))
        #expect(image.state == .present)
        #expect(image.fetchedAt != nil)
        #expect(try await database.markImagePresent(imageID: 999) == false)
    }

    @Test func markImageFailedRecordsTheError() async throws {
        let database = try FerryDatabase.inMemory()
        let id = try #require(try await database.requestImage(F.reference("a/b"), platform: F.amd64).id)
        try await database.markImageFailed(imageID: id, error: FerryError(.noMatchingPlatform, "no linux/s390x image"))
        let image = try #require(try await database.image(id: id))
        #expect(image.state == .failed)
        #expect(image.state.isFinished)
        #expect(image.errorCode == "NO_MATCHING_PLATFORM")
        #expect(image.errorMessage == "no linux/s390x image")
    }

    @Test func unfinishedImagesArePendingAndFetchingInRequestOrder() async throws {
        let database = try FerryDatabase.inMemory()
        let pending = try await database.requestImage(F.reference("a/pending"), platform: F.amd64)
        let fetchingID = try #require(try await database.requestImage(F.reference("a/fetching"), platform: F.amd64).id)
        try await database.recordResolution(imageID: fetchingID, F.resolution())
        let failedID = try #require(try await database.requestImage(F.reference("a/failed"), platform: F.amd64).id)
        try await database.markImageFailed(imageID: failedID, error: FerryError(.denied, "no"))
        try await database.storePresentImage("a/present", top: "d", image: "e")
        let later = try await database.requestImage(F.reference("a/later"), platform: F.amd64)

        let unfinished = try await database.unfinishedImages()
        #expect(unfinished.map(\.id) == [pending.id, fetchingID, later.id])
        #expect(unfinished.map(\.state) == [.pending, .fetching, .pending])
        #expect(!unfinished.contains { $0.state.isFinished })
    }

    @Test func recordColumnsNameRealColumns() async throws {
        let database = try FerryDatabase.inMemory()
        try await database.storePresentImage("a/b:1")
        let fetched = try await database.writer.read { db in
            try ImageRecord.filter(ImageRecord.Columns.fetchedAt != nil).order(ImageRecord.Columns.tag).fetchAll(db)
        }
        #expect(fetched.map(\.tag) == ["1"])
        let done = try await database.writer.read { db in
            try BlobRecord.filter(BlobRecord.Columns.bytesDone > 0).filter(BlobRecord.Columns.state == BlobState.present).fetchCount(db)
        }
        #expect(done == 3)
    }
}
