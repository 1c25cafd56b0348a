import FerryCore
import FerryState
import FerryTestSupport
import Foundation
import GRDB
import Synchronization
import Testing

/// An in-memory twin of the content store: files, uses, and digests that turn out to be in use
/// only at the moment of removal (a read that started after the plan was made).
final class MemoryStore: CollectableStore {
    struct State {
        var files: [Digest: Int64] = [:]
        var inUse: [Digest: BlobUse] = [:]
        var busyAtRemoval: Set<Digest> = []
        /// Every digest a removal was begun for.
        var removals: [Digest] = []
        /// Claimed and not yet finished or abandoned.
        var claimed: Set<Digest> = []
        /// While set, ``finishRemoval(_:)`` deletes nothing: what a crash after the commit leaves.
        var filesSurvive = false
        /// Called as each file is unlinked (before it goes).
        var onUnlink: (@Sendable (Digest) -> Void)?
    }

    let state = Mutex(State())

    init(_ files: [Digest: Int64] = [:]) { state.withLock { $0.files = files } }

    func storedBlobs() -> [GarbageCollection.Blob] {
        state.withLock { state in
            state.files.map { GarbageCollection.Blob(digest: $0.key, bytes: $0.value, lastUsed: Date(timeIntervalSince1970: 0)) }
        }
    }

    func digestsInUse() -> [Digest: BlobUse] { state.withLock { $0.inUse } }

    func beginRemoval(_ digest: Digest) -> BlobRemoval? {
        state.withLock { state in
            state.removals.append(digest)
            if let use = state.inUse[digest] { return .inUse(use) }
            if state.busyAtRemoval.contains(digest) { return .inUse(.reading) }
            guard state.claimed.insert(digest).inserted else { return .absent }
            return nil
        }
    }

    func finishRemoval(_ digest: Digest) -> BlobRemoval {
        let (survive, onUnlink) = state.withLock { ($0.filesSurvive, $0.onUnlink) }
        defer { abandonRemoval(digest) }
        if survive { return .absent }
        onUnlink?(digest)
        return state.withLock { state in
            guard let bytes = state.files.removeValue(forKey: digest) else { return .absent }
            return .removed(bytes: bytes)
        }
    }

    func abandonRemoval(_ digest: Digest) {
        _ = state.withLock { $0.claimed.remove(digest) }
    }

    var files: [Digest: Int64] { state.withLock { $0.files } }
}

@Suite("FerryDatabase garbage collection")
struct GarbageCollectionDatabaseTests {
    typealias F = StateFixtures

    /// Version `n` of `team/app`: manifest `m<n>`, config `c<n>`, layer `l<n>`, plus a layer shared by all.
    static func version(_ n: Int) -> (manifest: ManifestRecord, blobs: [Descriptor]) {
        let config = Descriptor(mediaType: MediaType.dockerConfig, digest: Digest.sha256(of: Array("c\(n)".utf8)), size: 100 + Int64(n))
        let layer = Descriptor(mediaType: MediaType.dockerLayerGzip, digest: Digest.sha256(of: Array("l\(n)".utf8)), size: 1000 + Int64(n))
        let shared = Descriptor(mediaType: MediaType.dockerLayerGzip, digest: Digest.sha256(of: Array("shared".utf8)), size: 5000)
        let body = ImageManifest(mediaType: MediaType.dockerManifest, config: config, layers: [shared, layer])
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let bytes = Array(try! encoder.encode(body))
        return (ManifestRecord(digest: Digest.sha256(of: bytes), mediaType: MediaType.dockerManifest, bytes: bytes), [config, shared, layer])
    }

    /// Fetches versions 1…n of `registry.example.com/team/app` (tags `1`…`n`, in order), every blob in `store`.
    static func fetchVersions(_ n: Int, into database: FerryDatabase, store: MemoryStore) async throws -> [ImageRecord] {
        var records: [ImageRecord] = []
        for index in 1...n {
            let (manifest, blobs) = version(index)
            let record = try await database.requestImage(F.reference("registry.example.com/team/app:\(index)"), platform: F.amd64)
            try await database.recordResolution(
                imageID: record.id!,
                ImageResolution(topDigest: manifest.digest, manifestDigest: manifest.digest, platform: F.amd64, manifests: [manifest], blobs: blobs))
            for blob in blobs {
                try await database.setBlobState(blob.digest, .present)
                store.state.withLock { $0.files[blob.digest] = blob.size }
            }
            #expect(try await database.markImagePresent(imageID: record.id!))
            records.append(try #require(try await database.image(id: record.id!)))
            try await waitForTheClockToPassFetchTimes(database)
        }
        return records
    }

    /// Waits until the wall clock is at least a millisecond (what the database stores of a date)
    /// past every image's fetch time, so that the next fetch is strictly newer: versions are
    /// ordered by fetch time.
    static func waitForTheClockToPassFetchTimes(_ database: FerryDatabase) async throws {
        let latest = try await database.images().compactMap(\.fetchedAt).max() ?? .distantPast
        try await waitUntil("the clock passes \(latest)", timeout: .seconds(10), every: .milliseconds(1)) {
            Date().timeIntervalSince(latest) >= 0.001
        }
    }

    static func blobDigests(_ database: FerryDatabase) async throws -> Set<Digest> {
        try await database.writer.read { db in Set(try Digest.fetchAll(db, sql: "SELECT digest FROM blobs")) }
    }

    @Test func keepDropsOlderVersionsWithTheirBlobRowsAndManifests() async throws {
        let database = try FerryDatabase.inMemory()
        let store = MemoryStore()
        let images = try await Self.fetchVersions(3, into: database, store: store)
        let outcome = try await database.collectGarbage(GarbageCollection.Policy(keep: 1), store: store)
        #expect(outcome.images.map(\.id) == [images[0].id!, images[1].id!])
        let gone = Set((Self.version(1).blobs + Self.version(2).blobs).map(\.digest)).subtracting(Self.version(3).blobs.map(\.digest))
        #expect(Set(outcome.blobs.map(\.digest)) == gone)
        #expect(outcome.bytes == 101 + 1001 + 102 + 1002)
        #expect(Set(outcome.manifests) == [Self.version(1).manifest.digest, Self.version(2).manifest.digest])
        #expect(Set(store.files.keys) == Set(Self.version(3).blobs.map(\.digest)))
        #expect(try await Self.blobDigests(database) == Set(Self.version(3).blobs.map(\.digest)))
        #expect(try await database.images().map(\.id) == [images[2].id!])
        #expect(try await database.manifest(Self.version(1).manifest.digest) == nil)
        #expect(try await database.digest(registry: "registry.example.com", repository: "team/app", tag: "1") == nil)
        #expect(try await database.digest(registry: "registry.example.com", repository: "team/app", tag: "3") == Self.version(3).manifest.digest)

        // Nothing left to collect.
        let again = try await database.collectGarbage(GarbageCollection.Policy(keep: 1), store: store)
        #expect(again.images.isEmpty && again.blobs.isEmpty && again.manifests.isEmpty)
    }

    /// Retention keeps a repository's newest failed attempt, by when it was asked for: asking
    /// again (even while it is being fetched) makes it the newest.
    @Test func askingForAnImageAgainRecordsWhen() async throws {
        let database = try FerryDatabase.inMemory()
        let reference = F.reference("registry.example.com/team/app:2")
        let first = try await database.requestImage(reference, platform: F.amd64)
        try await Task.sleep(for: .milliseconds(30))
        _ = try await database.requestImage(reference, platform: F.amd64)
        let stored = try #require(try await database.image(id: first.id!))
        #expect(stored.requestedAt.timeIntervalSince(first.requestedAt) > 0.02, "\(stored.requestedAt) after \(first.requestedAt)")
    }

    @Test func aDryRunChangesNothing() async throws {
        let database = try FerryDatabase.inMemory()
        let store = MemoryStore()
        _ = try await Self.fetchVersions(2, into: database, store: store)
        let files = store.files
        let outcome = try await database.collectGarbage(GarbageCollection.Policy(keep: 1), store: store, dryRun: true)
        #expect(outcome.dryRun)
        #expect(outcome.images.count == 1)
        #expect(outcome.blobs.count == 2)
        #expect(outcome.bytes == 101 + 1001)
        #expect(store.files == files)
        #expect(store.state.withLock { $0.removals }.isEmpty)
        #expect(try await database.images().count == 2)
        #expect(try await Self.blobDigests(database).count == 5)
    }

    @Test func aRunningInstallKeepsItsImageAndAFinishedOneKeepsOnlyTheRow() async throws {
        let database = try FerryDatabase.inMemory()
        let store = MemoryStore()
        let images = try await Self.fetchVersions(3, into: database, store: store)
        let node = try await database.join(name: "n1", address: nil, platform: "linux/amd64", credentialHash: "h").id!
        let running = try await database.createInstall(InstallRecord(maxParallel: 1, platform: nil, deadlineAt: nil), targets: [(node, [images[0].id!])])
        let finished = try await database.createInstall(InstallRecord(maxParallel: 1, platform: nil, deadlineAt: nil), targets: [(node, [images[1].id!])])
        let target = try #require(try await database.targets(ofInstall: finished.id!).first)
        _ = try await database.updateTarget(id: target.id!, nodeID: node, to: .done)
        #expect(try await database.finishInstalls().map(\.id) == [finished.id])

        let outcome = try await database.collectGarbage(GarbageCollection.Policy(keep: 1), store: store)
        #expect(outcome.images.map(\.id) == [images[1].id!])
        #expect(store.files.keys.contains(Self.version(1).blobs[2].digest), "the running install's image keeps its blobs")
        #expect(!store.files.keys.contains(Self.version(2).blobs[2].digest))
        // The finished install still names its image: the row stays, as `removed`, without content.
        let tombstone = try #require(try await database.image(id: images[1].id!))
        #expect(tombstone.state == .removed)
        #expect(tombstone.servedDigest == nil)
        #expect(try await database.blobs(ofImage: images[1].id!).isEmpty)
        #expect(try await database.heldImages()[node] == [images[1].reference])
        #expect(try await database.targets(ofInstall: running.id!).count == 1)

        // Asked for again, it is fetched again.
        let again = try await database.requestImage(F.reference(images[1].reference), platform: F.amd64)
        #expect(again.id == images[1].id)
        #expect(try await database.image(id: images[1].id!)?.state == .pending)
    }

    @Test func blobsMissingFromTheStoreReleaseTheirImagesUnlessAnInstallNeedsThem() async throws {
        let database = try FerryDatabase.inMemory()
        let store = MemoryStore()
        let images = try await Self.fetchVersions(3, into: database, store: store)
        let node = try await database.join(name: "n1", address: nil, platform: "linux/amd64", credentialHash: "h").id!
        _ = try await database.createInstall(InstallRecord(maxParallel: 1, platform: nil, deadlineAt: nil), targets: [(node, [images[0].id!])])
        // The layer every version shares, and version 3's own, are gone from the store.
        let shared = Self.version(1).blobs[1].digest
        let outcome = try await database.releaseImages(missing: [shared, Self.version(3).blobs[2].digest])
        #expect(outcome.refetch.map(\.id) == [images[0].id], "the running install's image is fetched again")
        #expect(outcome.released.map(\.id) == [images[1].id, images[2].id])
        for image in images[1...] {
            // No longer held, saying why; its links, other blobs and served digest stay.
            let released = try #require(try await database.image(id: image.id!))
            #expect(released.state == .failed && released.errorCode == FerryDatabase.missingBlobsError.code.rawValue)
            #expect(released.servedDigest != nil && released.servedDigest == image.servedDigest)
            #expect(try await database.blobs(ofImage: image.id!).count == 3)
        }
        #expect(try await database.image(id: images[0].id!)?.state == .present, "left for requestImage")
        // The leader's /v2/ no longer serves the released tags (their blobs are gone).
        #expect(try await database.digest(registry: "registry.example.com", repository: "team/app", tag: "2") == nil)
        #expect(try await database.digest(registry: "registry.example.com", repository: "team/app", tag: "1") != nil)
        #expect(try await database.tags(registry: "registry.example.com", repository: "team/app") == ["1"])
        #expect(try await database.presentBlobs().contains { $0.digest == shared } == false)
        #expect(try await database.releaseImages(missing: []).released.isEmpty)
    }

    /// A failed image whose running targets go on with its held digests (another install's
    /// resolution of its tag failed) is held as much as a present one: before, its nodes waited
    /// for blobs that nothing fetched.
    @Test func blobsMissingFromAnImageThatRunningTargetsGoOnWithFetchItAgain() async throws {
        let database = try FerryDatabase.inMemory()
        let store = MemoryStore()
        let images = try await Self.fetchVersions(2, into: database, store: store)
        let node = try await database.join(name: "n1", address: nil, platform: "linux/amd64", credentialHash: "h").id!
        _ = try await database.createInstall(InstallRecord(maxParallel: 1, platform: nil, deadlineAt: nil), targets: [(node, [images[0].id!])])
        _ = try await database.requestImage(F.reference(images[0].reference), platform: F.amd64)
        #expect(try await database.markImageFailed(imageID: images[0].id!, error: FerryError(.manifestUnknown, "gone")).spared == 1)
        let outcome = try await database.releaseImages(missing: [Self.version(1).blobs[1].digest])
        #expect(outcome.refetch.map(\.id) == [images[0].id], "the running targets' image is fetched again")
        #expect(outcome.released.map(\.id) == [images[1].id])
    }

    @Test func aBlobFoundInUseAtRemovalKeepsItsRowAndIsReported() async throws {
        let database = try FerryDatabase.inMemory()
        let store = MemoryStore()
        _ = try await Self.fetchVersions(2, into: database, store: store)
        let busy = Self.version(1).blobs[2].digest
        let leased = Self.version(1).blobs[0].digest
        store.state.withLock {
            $0.busyAtRemoval = [busy]
            $0.inUse = [leased: .leased("install target 3")]
        }
        let outcome = try await database.collectGarbage(GarbageCollection.Policy(keep: 1), store: store)
        #expect(outcome.blobs.isEmpty)
        #expect(outcome.inUse.map(\.blob.digest) == [busy, leased].sorted())
        #expect(outcome.inUse.first { $0.blob.digest == leased }?.reason == "leased by install target 3")
        #expect(outcome.inUse.first { $0.blob.digest == busy }?.reason == "being read")
        #expect(!store.state.withLock { $0.removals }.contains(leased), "a digest in use when planning is not even tried")
        #expect(try await Self.blobDigests(database).isSuperset(of: [busy, leased]))
        #expect(store.files[busy] != nil)

        // Once nothing uses them, the next collection takes them.
        store.state.withLock {
            $0.busyAtRemoval = []
            $0.inUse = [:]
        }
        let later = try await database.collectGarbage(GarbageCollection.Policy(keep: 1), store: store)
        #expect(Set(later.blobs.map(\.digest)) == [busy, leased])
        #expect(try await Self.blobDigests(database).isDisjoint(with: [busy, leased]))
    }

    @Test func orphanFilesAndRowsWithoutFilesAreCleanedUp() async throws {
        let database = try FerryDatabase.inMemory()
        let orphan = Digest.sha256(of: Array("orphan".utf8))
        let store = MemoryStore([orphan: 42])
        // A failed fetch left a row for a blob never downloaded, and a tag that moved left the old content.
        let image = try await database.requestImage(F.reference("registry.example.com/team/app:latest"), platform: F.amd64)
        let old = Self.version(1)
        try await database.recordResolution(
            imageID: image.id!, ImageResolution(topDigest: old.manifest.digest, manifestDigest: old.manifest.digest, platform: F.amd64, manifests: [old.manifest], blobs: old.blobs))
        let new = Self.version(2)
        try await database.recordResolution(
            imageID: image.id!, ImageResolution(topDigest: new.manifest.digest, manifestDigest: new.manifest.digest, platform: F.amd64, manifests: [new.manifest], blobs: new.blobs))
        for blob in new.blobs {
            try await database.setBlobState(blob.digest, .present)
            store.state.withLock { $0.files[blob.digest] = blob.size }
        }
        #expect(try await database.markImagePresent(imageID: image.id!))

        let outcome = try await database.collectGarbage(GarbageCollection.Policy(), store: store)
        #expect(outcome.images.isEmpty)
        #expect(outcome.blobs.map(\.digest) == [orphan])
        #expect(outcome.manifests == [old.manifest.digest])
        #expect(try await Self.blobDigests(database) == Set(new.blobs.map(\.digest)))
    }

    @Test func aFollowersHeldImagesAreVersionsToo() async throws {
        let database = try FerryDatabase.inMemory()
        let store = MemoryStore()
        for index in 1...3 {
            let (manifest, blobs) = Self.version(index)
            try await database.recordHeldImage(F.reference("registry.example.com/team/app:\(index)"), platform: F.amd64, manifest: manifest, blobs: blobs)
            for blob in blobs { store.state.withLock { $0.files[blob.digest] = blob.size } }
            try await Self.waitForTheClockToPassFetchTimes(database)
        }
        // Installed again later: the newest again.
        let (manifest, blobs) = Self.version(1)
        try await database.recordHeldImage(F.reference("registry.example.com/team/app:1"), platform: F.amd64, manifest: manifest, blobs: blobs)
        #expect(try await database.images().count == 3)
        let outcome = try await database.collectGarbage(GarbageCollection.Policy(keep: 2), store: store)
        #expect(outcome.images.map(\.reference) == ["registry.example.com/team/app:2"])
        #expect(Set(outcome.blobs.map(\.digest)) == [Self.version(2).blobs[0].digest, Self.version(2).blobs[2].digest])
    }
}
