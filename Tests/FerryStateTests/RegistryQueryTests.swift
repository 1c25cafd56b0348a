import FerryCore
import FerryState
import Foundation
import GRDB
import Testing

@Suite("FerryDatabase /v2/ queries")
struct RegistryQueryTests {
    typealias F = StateFixtures

    @Test func tagsOfARepositoryAreSortedAndOnlyPresentOnes() async throws {
        let database = try FerryDatabase.inMemory()
        for tag in ["latest", "3.19", "edge", "3.2", "Z"] { try await database.storePresentImage("alpine:\(tag)") }
        _ = try await database.requestImage(F.reference("alpine:pending"), platform: F.amd64)
        try await database.storePresentImage("alpine:edge", platform: F.arm64)  // same tag, other platform
        try await database.storePresentImage("busybox:1")
        let tags = try await database.tags(registry: "docker.io", repository: "library/alpine")
        #expect(tags == ["3.19", "3.2", "Z", "edge", "latest"])
    }

    @Test func pinnedDigestReferencesAreNotTags() async throws {
        let database = try FerryDatabase.inMemory()
        let hex = String(repeating: "b", count: 64)
        try await database.storePresentImage("ghcr.io/o/app:1")
        try await database.storePresentImage("ghcr.io/o/app:2@sha256:\(hex)", top: "e", image: "f")
        try await database.storePresentImage("ghcr.io/o/app@sha256:\(hex)", top: "e", image: "f")
        #expect(try await database.tags(registry: "ghcr.io", repository: "o/app") == ["1"])
        #expect(try await database.digest(registry: "ghcr.io", repository: "o/app", tag: "2") == nil)
        #expect(try await database.digest(registry: "ghcr.io", repository: "o/app", tag: "1") == F.digest("a"))
    }

    @Test func aRepositoryHeldOnlyByDigestIsKnownWithNoTags() async throws {
        let database = try FerryDatabase.inMemory()
        try await database.storePresentImage("ghcr.io/o/pinned@sha256:\(String(repeating: "b", count: 64))")
        #expect(try await database.tags(registry: "ghcr.io", repository: "o/pinned") == [])
    }

    @Test func unknownRepositoryIsNil() async throws {
        let database = try FerryDatabase.inMemory()
        try await database.storePresentImage("ghcr.io/o/app:1")
        _ = try await database.requestImage(F.reference("ghcr.io/o/pending:1"), platform: F.amd64)
        #expect(try await database.tags(registry: "ghcr.io", repository: "o/nope") == nil)
        #expect(try await database.tags(registry: "quay.io", repository: "o/app") == nil)
        #expect(try await database.tags(registry: "ghcr.io", repository: "o/pending") == nil)
        #expect(try await database.digest(registry: "ghcr.io", repository: "o/nope", tag: "1") == nil)
        #expect(try await database.digest(registry: "ghcr.io", repository: "o/app", tag: "9") == nil)
    }

    @Test func aTagStaysServedWhileItIsFetchedAgainAndAfterThatFetchFails() async throws {
        let database = try FerryDatabase.inMemory()
        let first = try await database.storePresentImage("ghcr.io/o/app:1", top: "a", image: "b")
        let id = try #require(first.id)
        // Asked again: pending, then resolved to a new digest (the tag moved upstream).
        _ = try await database.requestImage(F.reference("ghcr.io/o/app:1"), platform: F.amd64)
        #expect(try await database.digest(registry: "ghcr.io", repository: "o/app", tag: "1") == F.digest("a"))
        let moved = ImageResolution(
            topDigest: F.digest("d"), manifestDigest: F.digest("e"), platform: F.amd64,
            manifests: [F.manifest("d"), F.manifest("e")], blobs: [F.config, F.layer1, F.layer2])
        try await database.recordResolution(imageID: id, moved)
        #expect(try await database.digest(registry: "ghcr.io", repository: "o/app", tag: "1") == F.digest("a"))
        try await database.markImageFailed(imageID: id, error: FerryError(.upstreamUnreachable, "gone"))
        #expect(try await database.digest(registry: "ghcr.io", repository: "o/app", tag: "1") == F.digest("a"))
        #expect(try await database.tags(registry: "ghcr.io", repository: "o/app") == ["1"])
        // The next completed fetch serves the new digest.
        _ = try await database.requestImage(F.reference("ghcr.io/o/app:1"), platform: F.amd64)
        try await database.recordResolution(imageID: id, moved)
        #expect(try await database.markImagePresent(imageID: id))
        #expect(try await database.digest(registry: "ghcr.io", repository: "o/app", tag: "1") == F.digest("d"))
    }

    @Test func digestOfATagIsTheTopDigestOfItsLatestFetch() async throws {
        let database = try FerryDatabase.inMemory()
        let amd = try await database.storePresentImage("ghcr.io/o/app:1", platform: F.amd64, top: "a", image: "b")
        let arm = try await database.storePresentImage("ghcr.io/o/app:1", platform: F.arm64, top: "d", image: "e")
        // The tag moved upstream between the two fetches; whichever was fetched last wins.
        try await setFetchedAt(database, amd, "2030-01-01 00:00:00.000")
        try await setFetchedAt(database, arm, "2030-01-02 00:00:00.000")
        #expect(try await database.digest(registry: "ghcr.io", repository: "o/app", tag: "1") == F.digest("d"))
        try await setFetchedAt(database, amd, "2030-01-03 00:00:00.000")
        #expect(try await database.digest(registry: "ghcr.io", repository: "o/app", tag: "1") == F.digest("a"))
    }

    func setFetchedAt(_ database: FerryDatabase, _ image: ImageRecord, _ time: String) async throws {
        let id = try #require(image.id)
        try await database.writer.write { db in
            try db.execute(sql: "UPDATE images SET fetched_at = ? WHERE id = ?", arguments: [time, id])
        }
    }
}
