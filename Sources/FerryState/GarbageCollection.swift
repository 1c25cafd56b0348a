import FerryCore
import Foundation

/// Garbage collection of a node's images, manifests and blobs: a mark-and-sweep, as in
/// distribution's `garbage-collect`, with containerd-style protection of what is in use.
///
/// 1. **Retention** decides which images stay: every image when no `keep` is given; otherwise the
///    last `keep` fetched versions (by `fetched_at`) of each repository, per registry and
///    platform, plus every image still being fetched and every image a running install targets.
/// 2. **Mark**: from the retained images' digests (top, platform manifest, the digest served for
///    the tag, linked manifests and blobs) and from every digest in use (being written, read or
///    leased), follow manifests to the manifests and blobs they reference.
/// 3. **Sweep**: what is not marked goes — every such blob, or, with a byte goal, the least
///    recently used first until the goal is met — except blobs in use, which are reported and
///    kept. The store checks use again when the collection claims a blob for removal.
///
/// ``plan(_:policy:)`` is pure; `FerryDatabase.collectGarbage` runs it and applies the plan to
/// the database in one transaction, then unlinks the files after the commit.
public enum GarbageCollection {
    /// An image as the planner sees it.
    public struct Image: Sendable, Hashable {
        public var id: Int64
        public var reference: String
        public var registry: String
        public var repository: String
        /// The platform asked for: versions are counted per platform.
        public var platform: String
        public var state: ImageState
        /// When its last fetch (or, on a follower, its install) completed.
        public var fetchedAt: Date?
        /// Targeted by a running install.
        public var pinned: Bool
        /// The digests it reaches directly: top, manifest and served digests, linked manifests and blobs.
        public var roots: Set<Digest>
        /// When it was last asked for (nil: unknown).
        public var requestedAt: Date?
        /// Its fetch failed for good (no image for its platform): nothing it downloaded resumes,
        /// so a failed attempt is not kept for that.
        public var failedForGood: Bool

        public init(
            id: Int64, reference: String, registry: String, repository: String, platform: String, state: ImageState,
            fetchedAt: Date?, pinned: Bool = false, roots: Set<Digest>, requestedAt: Date? = nil, failedForGood: Bool = false
        ) {
            self.failedForGood = failedForGood
            self.requestedAt = requestedAt
            self.id = id
            self.reference = reference
            self.registry = registry
            self.repository = repository
            self.platform = platform
            self.state = state
            self.fetchedAt = fetchedAt
            self.pinned = pinned
            self.roots = roots
        }

        /// Still being fetched: its blobs are arriving and must stay.
        public var inProgress: Bool { state == .pending || state == .fetching }
    }

    /// A blob: a database row, a file on disk, or both (`bytes` 0 for a row whose file is not there).
    public typealias Blob = StoredBlob

    /// Everything the planner looks at, read in one transaction.
    public struct Input: Sendable {
        public var images: [Image]
        /// Manifests held, each with the digests it references (child manifests; config and layers).
        public var manifests: [Digest: [Digest]]
        /// Every blob known, each once.
        public var blobs: [Blob]
        /// Digests in use at the time of reading: never removed, and roots of the mark.
        public var inUse: Set<Digest>

        public init(images: [Image], manifests: [Digest: [Digest]], blobs: [Blob], inUse: Set<Digest>) {
            self.images = images
            self.manifests = manifests
            self.blobs = blobs
            self.inUse = inUse
        }
    }

    /// What to collect.
    public struct Policy: Sendable, Hashable {
        public enum Goal: Sendable, Hashable {
            /// Every unreferenced blob (`ferry gc`).
            case everything
            /// Unreferenced blobs, least recently used first, until this many bytes are freed
            /// (collection towards the low watermark).
            case free(Int64)
        }

        /// Versions kept per repository and platform; nil keeps every image.
        public var keep: Int?
        public var goal: Goal

        public init(keep: Int? = nil, goal: Goal = .everything) {
            self.keep = keep
            self.goal = goal
        }
    }

    /// What a collection removes.
    public struct Plan: Sendable, Hashable {
        /// Images dropped by retention.
        public var images: [Image] = []
        /// Blobs to remove, in the order to remove them.
        public var blobs: [Blob] = []
        /// Manifests no retained image reaches.
        public var manifests: [Digest] = []
        /// Unreferenced blobs left alone because they are in use now (or a manifest in use names them).
        public var inUse: [Blob] = []

        public init() {}

        /// Bytes the removals free.
        public var bytes: Int64 { blobs.reduce(0) { $0 + $1.bytes } }
    }

    /// The ids of the images retention keeps.
    public static func retained(_ images: [Image], keep: Int?) -> Set<Int64> {
        let live = images.filter { $0.state != .removed }
        guard let keep else { return Set(live.map(\.id)) }
        // In use: kept on top of the last `keep`, never counted among them (an install of an
        // old version re-resolves it, which makes it the newest fetched).
        var kept = Set(live.filter { $0.inProgress || $0.pinned }.map(\.id))
        let key = { (image: Image) in VersionKey(registry: image.registry, repository: image.repository, platform: image.platform) }
        let versions = Dictionary(grouping: live.filter { $0.fetchedAt != nil && !kept.contains($0.id) }, by: key)
        for (_, images) in versions {
            let newest = images.sorted { ($0.fetchedAt!, $0.id) > ($1.fetchedAt!, $1.id) }
            kept.formUnion(newest.prefix(max(keep, 0)).map(\.id))
        }
        // Never fetched (its fetch failed, a full disk say): the newest such attempt of a
        // repository is kept on top while it was asked for after every fetched version (those in
        // use too), so that what it downloaded resumes when it is asked again; dropped once a
        // version asked for later was fetched. Not one that failed for good (NO_MATCHING_PLATFORM:
        // a platform the image does not have): what it linked would be pinned forever.
        guard keep > 0 else { return kept }
        for (_, group) in Dictionary(grouping: live, by: key) {
            let attempts = group.filter { $0.fetchedAt == nil && !$0.failedForGood && !kept.contains($0.id) }
            guard let newest = attempts.max(by: { ($0.requestedAt ?? .distantPast, $0.id) < ($1.requestedAt ?? .distantPast, $1.id) }) else { continue }
            guard let latest = group.compactMap({ image in image.fetchedAt.map { image.requestedAt ?? $0 } }).max() else {
                kept.insert(newest.id)
                continue
            }
            if let requested = newest.requestedAt, requested > latest { kept.insert(newest.id) }
        }
        return kept
    }

    /// Decides what to collect. Pure: the same input and policy give the same plan.
    public static func plan(_ input: Input, policy: Policy) -> Plan {
        let keptIDs = retained(input.images, keep: policy.keep)
        var plan = Plan()
        plan.images = input.images.filter { $0.state != .removed && !keptIDs.contains($0.id) }.sorted { $0.id < $1.id }

        // Mark: what retained images reference, and (apart) what is in use and what that reaches.
        let referenced = mark(input.images.filter { keptIDs.contains($0.id) }.flatMap(\.roots), manifests: input.manifests)
        let used = mark(input.inUse, manifests: input.manifests)

        // Sweep.
        plan.manifests = input.manifests.keys.filter { !referenced.contains($0) && !used.contains($0) }.sorted()
        var candidates: [Blob] = []
        for blob in input.blobs where !referenced.contains(blob.digest) {
            if used.contains(blob.digest) { plan.inUse.append(blob) } else { candidates.append(blob) }
        }
        plan.inUse.sort { $0.digest < $1.digest }
        candidates.sort { ($0.lastUsed, $0.digest) < ($1.lastUsed, $1.digest) }
        switch policy.goal {
        case .everything:
            plan.blobs = candidates
        case .free(let goal):
            var freed: Int64 = 0
            for blob in candidates where blob.bytes == 0 || freed < goal {
                plan.blobs.append(blob)
                freed += blob.bytes
            }
        }
        return plan
    }

    /// `roots` and everything they reach through manifests.
    static func mark(_ roots: some Sequence<Digest>, manifests: [Digest: [Digest]]) -> Set<Digest> {
        var marked = Set<Digest>()
        var pending = Array(roots)
        while let digest = pending.popLast() {
            guard marked.insert(digest).inserted else { continue }
            pending.append(contentsOf: manifests[digest] ?? [])
        }
        return marked
    }

    private struct VersionKey: Hashable {
        var registry: String
        var repository: String
        var platform: String
    }
}
