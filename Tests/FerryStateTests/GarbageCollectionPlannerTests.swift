import FerryCore
import FerryState
import Foundation
import Testing

/// The pure planner: retention, mark from retained images and from what is in use, sweep.
@Suite("Garbage collection planner")
struct GarbageCollectionPlannerTests {
    typealias GC = GarbageCollection

    static func digest(_ text: String) -> Digest { Digest.sha256(of: Array(text.utf8)) }

    static func image(
        _ id: Int64, _ repository: String = "team/app", registry: String = "registry.example.com", platform: String = "linux/amd64",
        state: ImageState = .present, fetched: TimeInterval? = nil, pinned: Bool = false, roots: [String]
    ) -> GC.Image {
        GC.Image(
            id: id, reference: "\(registry)/\(repository):\(id)", registry: registry, repository: repository, platform: platform, state: state,
            fetchedAt: fetched.map { Date(timeIntervalSince1970: $0) } ?? (state == .present ? Date(timeIntervalSince1970: TimeInterval(id)) : nil),
            pinned: pinned, roots: Set(roots.map(digest)))
    }

    static func blob(_ name: String, bytes: Int64 = 10, used: TimeInterval = 0) -> GC.Blob {
        GC.Blob(digest: digest(name), bytes: bytes, lastUsed: Date(timeIntervalSince1970: used))
    }

    /// Images whose only root is their manifest `m<id>`, which references `c<id>` and `l<id>`.
    static func versions(_ ids: [Int64], repository: String = "team/app", platform: String = "linux/amd64") -> (
        images: [GC.Image], manifests: [Digest: [Digest]], blobs: [GC.Blob]
    ) {
        var manifests: [Digest: [Digest]] = [:]
        var blobs: [GC.Blob] = []
        let images = ids.map { id in
            manifests[digest("\(repository)\(platform)m\(id)")] = [digest("\(repository)\(platform)c\(id)"), digest("\(repository)\(platform)l\(id)")]
            blobs += [blob("\(repository)\(platform)c\(id)"), blob("\(repository)\(platform)l\(id)")]
            return image(id, repository, platform: platform, roots: ["\(repository)\(platform)m\(id)"])
        }
        return (images, manifests, blobs)
    }

    @Test func withoutKeepEveryImageStaysAndOnlyUnreferencedContentGoes() {
        let (images, manifests, blobs) = Self.versions([1, 2])
        var all = manifests
        all[Self.digest("orphan manifest")] = [Self.digest("orphan")]
        let plan = GC.plan(
            GC.Input(images: images, manifests: all, blobs: blobs + [Self.blob("orphan", bytes: 7)], inUse: []), policy: GC.Policy())
        #expect(plan.images.isEmpty)
        #expect(plan.blobs.map(\.digest) == [Self.digest("orphan")])
        #expect(plan.manifests == [Self.digest("orphan manifest")])
        #expect(plan.bytes == 7)
    }

    @Test func keepKeepsExactlyTheLastKFetchedVersionsPerRepositoryAndPlatform() {
        let app = Self.versions([1, 2, 3, 4])
        let arm = Self.versions([5, 6], platform: "linux/arm64")
        let db = Self.versions([7], repository: "team/db")
        let input = GC.Input(
            images: app.images + arm.images + db.images, manifests: app.manifests.merging(arm.manifests) { $1 }.merging(db.manifests) { $1 },
            blobs: app.blobs + arm.blobs + db.blobs, inUse: [])
        let plan = GC.plan(input, policy: GC.Policy(keep: 2))
        #expect(plan.images.map(\.id) == [1, 2])
        #expect(GC.retained(input.images, keep: 2) == [3, 4, 5, 6, 7])
        #expect(Set(plan.blobs.map(\.digest)) == Set(["c1", "l1", "c2", "l2"].map { Self.digest("team/applinux/amd64" + $0) }))
        #expect(Set(plan.manifests) == Set(["m1", "m2"].map { Self.digest("team/applinux/amd64" + $0) }))
        #expect(GC.plan(input, policy: GC.Policy(keep: 1)).images.map(\.id) == [1, 2, 3, 5])
    }

    @Test func versionsAreOrderedByFetchTimeNotByID() {
        let images = [
            Self.image(1, fetched: 300, roots: ["a"]), Self.image(2, fetched: 100, roots: ["b"]), Self.image(3, fetched: 200, roots: ["c"]),
        ]
        #expect(GC.retained(images, keep: 2) == [1, 3])
    }

    @Test func runningInstallsAndFetchesInProgressAreKeptBeyondK() {
        let images = [
            Self.image(1, pinned: true, roots: ["old"]),
            Self.image(2, state: .fetching, roots: ["refetch"]),
            Self.image(3, state: .pending, roots: []),
            Self.image(4, state: .failed, roots: ["never fetched"]),
            Self.image(5, roots: ["new"]),
        ]
        #expect(GC.retained(images, keep: 1) == [1, 2, 3, 5])
        let plan = GC.plan(
            GC.Input(
                images: images, manifests: [:], blobs: ["old", "refetch", "never fetched", "new"].map { Self.blob($0) }, inUse: []),
            policy: GC.Policy(keep: 1))
        #expect(plan.images.map(\.id) == [4])
        #expect(plan.blobs.map(\.digest) == [Self.digest("never fetched")])
    }

    @Test("an attempt that failed for good (a platform the image does not have) is not kept for resuming: it pinned the other platform's blobs forever")
    func anAttemptForAMissingPlatformIsNotKept() {
        var typo = Self.image(2, platform: "linux/riscv99", state: .failed, roots: ["amd64 layer"])
        typo.requestedAt = Date(timeIntervalSince1970: 100)
        let resumable = typo
        typo.failedForGood = true
        #expect(GC.retained([Self.image(1, roots: ["v1"]), resumable], keep: 1) == [1, 2], "a full disk's attempt stays")
        #expect(GC.retained([Self.image(1, roots: ["v1"]), typo], keep: 1) == [1])
    }

    @Test("an image whose fetch failed before it was ever fetched (a full disk) stays while it is its repository's newest attempt, with what it downloaded")
    func aFailedFirstFetchStaysUntilALaterVersionIsFetched() {
        func failed(_ id: Int64, _ repository: String = "team/app", requested: TimeInterval) -> GC.Image {
            var image = Self.image(id, repository, state: .failed, roots: ["partial\(id)"])
            image.requestedAt = Date(timeIntervalSince1970: requested)
            return image
        }
        func fetched(_ id: Int64, requested: TimeInterval, fetched: TimeInterval, pinned: Bool = false) -> GC.Image {
            var image = Self.image(id, fetched: fetched, pinned: pinned, roots: ["v\(id)"])
            image.requestedAt = Date(timeIntervalSince1970: requested)
            return image
        }
        let images = [
            fetched(1, requested: 90, fetched: 100), fetched(2, requested: 190, fetched: 200),
            failed(3, requested: 300),  // asked for after every fetched version: the upgrade that ran out of space
            failed(6, requested: 250),  // an older failed attempt: only the newest one stays
            failed(4, requested: 150),  // superseded: version 2 was asked for after it, and fetched
            failed(5, "team/new", requested: 50),  // a repository never fetched at all
        ]
        #expect(GC.retained(images, keep: 1) == [2, 3, 5])
        let plan = GC.plan(
            GC.Input(images: images, manifests: [:], blobs: ["v1", "v2", "partial3", "partial4", "partial5", "partial6"].map { Self.blob($0) }, inUse: []),
            policy: GC.Policy(keep: 1))
        #expect(plan.images.map(\.id) == [1, 4, 6])
        #expect(Set(plan.blobs.map(\.digest)) == Set(["v1", "partial4", "partial6"].map(Self.digest)))
        #expect(GC.retained(images, keep: 0).isEmpty, "--keep 0 keeps nothing")
        // Asked for before a version that was fetched later but asked for earlier: still the newest attempt.
        let slow = [fetched(1, requested: 100, fetched: 400), failed(2, requested: 200)]
        #expect(GC.retained(slow, keep: 1) == [1, 2])
        // A version in use (pinned) asked for after the attempt supersedes it too.
        let used = [fetched(1, requested: 100, fetched: 110), fetched(2, requested: 300, fetched: 310, pinned: true), failed(3, requested: 200)]
        #expect(GC.retained(used, keep: 1) == [1, 2])
    }

    @Test func anImageInUseIsNotCountedAmongTheLastK() {
        // An install of version 1 re-resolved its tag, which made it the newest fetched: it is kept
        // for the install, and the newest of the others (3) is kept as the last 1.
        let images = [
            Self.image(1, fetched: 900, pinned: true, roots: ["v1"]), Self.image(2, fetched: 200, roots: ["v2"]),
            Self.image(3, fetched: 300, roots: ["v3"]), Self.image(4, state: .fetching, fetched: 950, roots: ["refetch"]),
        ]
        #expect(GC.retained(images, keep: 1) == [1, 3, 4])
        #expect(GC.retained(images, keep: 2) == [1, 2, 3, 4])
    }

    @Test func removedImagesAreNeitherVersionsNorDroppedAgain() {
        let images = [Self.image(1, state: .removed, fetched: 900, roots: []), Self.image(2, roots: ["b"]), Self.image(3, roots: ["c"])]
        #expect(GC.retained(images, keep: 2) == [2, 3])
        #expect(GC.plan(GC.Input(images: images, manifests: [:], blobs: [], inUse: []), policy: GC.Policy(keep: 2)).images.isEmpty)
    }

    @Test func aBlobSharedWithARetainedImageStays() {
        let images = [Self.image(1, roots: ["m1"]), Self.image(2, roots: ["m2"])]
        let manifests = [Self.digest("m1"): [Self.digest("shared"), Self.digest("only1")], Self.digest("m2"): [Self.digest("shared")]]
        let plan = GC.plan(
            GC.Input(images: images, manifests: manifests, blobs: ["shared", "only1"].map { Self.blob($0) }, inUse: []),
            policy: GC.Policy(keep: 1))
        #expect(plan.blobs.map(\.digest) == [Self.digest("only1")])
    }

    @Test func theMarkFollowsIndexesAndTheDigestStillServedForATag() {
        // Image 1 is being fetched again: its links name the new content, but /v2/ still serves
        // the old index for its tag until the refetch completes.
        var image = Self.image(1, state: .fetching, roots: ["new manifest", "new layer"])
        image.roots.insert(Self.digest("old index"))
        let manifests = [
            Self.digest("old index"): [Self.digest("old manifest"), Self.digest("other platform manifest")],
            Self.digest("old manifest"): [Self.digest("old config"), Self.digest("old layer")],
            Self.digest("new manifest"): [Self.digest("new layer")],
            Self.digest("stray manifest"): [Self.digest("stray")],
        ]
        let plan = GC.plan(
            GC.Input(images: [image], manifests: manifests, blobs: ["old config", "old layer", "new layer", "stray"].map { Self.blob($0) }, inUse: []),
            policy: GC.Policy(keep: 1))
        #expect(plan.blobs.map(\.digest) == [Self.digest("stray")])
        #expect(plan.manifests == [Self.digest("stray manifest")])
    }

    @Test func whatIsInUseIsNeverPlannedAndProtectsWhatItReferences() {
        // A follower's running target leases its manifest (and blobs): nothing it reaches goes.
        let manifests = [Self.digest("leased manifest"): [Self.digest("a"), Self.digest("b")]]
        let plan = GC.plan(
            GC.Input(
                images: [], manifests: manifests, blobs: ["a", "b", "being read", "free"].map { Self.blob($0) },
                inUse: [Self.digest("leased manifest"), Self.digest("being read")]),
            policy: GC.Policy(keep: 1))
        #expect(plan.blobs.map(\.digest) == [Self.digest("free")])
        #expect(Set(plan.inUse.map(\.digest)) == Set(["a", "b", "being read"].map(Self.digest)))
        #expect(plan.manifests.isEmpty)
    }

    @Test func aByteGoalTakesTheLeastRecentlyUsedFirstAndStopsWhenMet() {
        let blobs = [
            Self.blob("newest", bytes: 100, used: 50), Self.blob("oldest", bytes: 30, used: 10), Self.blob("middle", bytes: 40, used: 20),
            Self.blob("row only", bytes: 0, used: 60),
        ]
        let input = GC.Input(images: [], manifests: [:], blobs: blobs, inUse: [])
        #expect(GC.plan(input, policy: GC.Policy(goal: .free(50))).blobs.map(\.digest) == ["oldest", "middle", "row only"].map(Self.digest))
        #expect(GC.plan(input, policy: GC.Policy(goal: .free(30))).blobs.map(\.digest) == ["oldest", "row only"].map(Self.digest))
        #expect(GC.plan(input, policy: GC.Policy(goal: .free(1000))).bytes == 170)
        #expect(GC.plan(input, policy: GC.Policy(goal: .free(0))).blobs.map(\.digest) == [Self.digest("row only")])
        #expect(GC.plan(input, policy: GC.Policy()).blobs.map(\.digest) == ["oldest", "middle", "newest", "row only"].map(Self.digest))
    }

    @Test func thePlanIsPure() {
        let (images, manifests, blobs) = Self.versions([1, 2, 3])
        let input = GC.Input(images: images.shuffled(), manifests: manifests, blobs: blobs.shuffled(), inUse: [])
        let again = GC.Input(images: images, manifests: manifests, blobs: blobs, inUse: [])
        #expect(GC.plan(input, policy: GC.Policy(keep: 1)) == GC.plan(again, policy: GC.Policy(keep: 1)))
    }
}
