import FerryCore

/// Who is using which blobs of a ``BlobStore`` right now: open ingests (writers, one per digest),
/// open reads (counted per digest), named leases, and removals under way. The store keeps one
/// value of it under one lock, so every decision below sees all four at once and there is no lock
/// ordering to get wrong.
///
/// Like containerd's leases, a lease is held by whoever is about to use blobs (an install target
/// on a follower) and names the digests it needs; it costs nothing on disk and is gone when the
/// process ends.
///
/// The methods are pure: they decide from the value and change it, nothing else.
struct BlobUsage: Sendable {
    /// Open ingests, with the progress cut-through readers follow.
    var writers: [Digest: IngestProgress] = [:]
    /// Room a download of an open ingest was granted (``BlobStore/ensureSpace(for:what:excluding:)``):
    /// the bytes, and how far its ingest was then; ended with the ingest.
    var reservations: [Digest: Reservation] = [:]

    struct Reservation: Sendable {
        var bytes: Int64
        var from: Int64
    }

    /// What the downloads granted room, other than `digest`'s, still have to write.
    func reserved(excluding digest: Digest?) -> Int64 {
        reservations.reduce(Int64(0)) { sum, entry in
            guard entry.key != digest else { return sum }
            let written = max((writers[entry.key]?.snapshot.durable ?? entry.value.from) - entry.value.from, 0)
            let left = max(entry.value.bytes - written, 0)
            let (total, overflow) = sum.addingReportingOverflow(left)
            return overflow ? .max : total
        }
    }
    /// Open reads per digest.
    var readers: [Digest: Int] = [:]
    /// Lease name → the digests it protects.
    var leases: [String: Set<Digest>] = [:]
    /// Digests claimed by a removal (``claimRemoval(_:)``) whose files are not unlinked yet: the
    /// blob counts as absent, and a new ingest waits until the removal ends.
    var removing: Set<Digest> = []
    /// Expected arrivals (``BlobStore/expectArrivals(_:of:)``): name → digest → size. A blob
    /// expected and not started yet is waited for by a verified cut-through reader.
    var arrivals: [String: [Digest: Int64]] = [:]

    /// Whether an ingest of a digest may start now.
    enum WriteStart: Sendable, Hashable {
        case allowed
        /// Another ingest of it is open.
        case busy
        /// A removal of it is under way: try again once it ends.
        case removing
    }

    /// What ``claimRemoval(_:)`` decided.
    enum RemovalClaim: Sendable, Hashable {
        /// The caller removes the files, then calls ``endRemoval(_:)``.
        case claimed
        case inUse(BlobUse)
        /// Another removal holds it: nothing for this caller to do.
        case alreadyRemoving
    }

    // MARK: Decisions

    /// Whether an ingest of `digest` may start. Readers and leases never hold a writer back.
    func mayStartWriting(_ digest: Digest) -> WriteStart {
        if writers[digest] != nil { return .busy }
        if removing.contains(digest) { return .removing }
        return .allowed
    }

    /// Whether a committed blob may be read (or reported present): not while it is being removed.
    func mayRead(_ digest: Digest) -> Bool { !removing.contains(digest) }

    /// How `digest` is in use, if it is: writing before reading before a lease (the
    /// alphabetically first lease naming it).
    func use(of digest: Digest) -> BlobUse? {
        if writers[digest] != nil { return .writing }
        if readers[digest, default: 0] > 0 { return .reading }
        if let name = leases.filter({ $0.value.contains(digest) }).keys.min() { return .leased(name) }
        return nil
    }

    /// Whether `digest` may be removed now: nil when nothing uses it, else the use that prevents it.
    func mayRemove(_ digest: Digest) -> BlobUse? { use(of: digest) }

    /// Every digest in use, with how (as ``use(of:)`` reports each).
    var inUse: [Digest: BlobUse] {
        var uses: [Digest: BlobUse] = [:]
        for (name, digests) in leases.sorted(by: { $0.key > $1.key }) {
            for digest in digests { uses[digest] = .leased(name) }
        }
        for digest in readers.keys { uses[digest] = .reading }
        for digest in writers.keys { uses[digest] = .writing }
        return uses
    }

    /// The size an expected arrival of `digest` announced, if any name expects it.
    func expectedSize(of digest: Digest) -> Int64? {
        for blobs in arrivals.values { if let size = blobs[digest] { return size } }
        return nil
    }

    // MARK: Changes

    /// Registers the writer `progress` if ``mayStartWriting(_:)`` allows it; returns the decision.
    mutating func startWriting(_ progress: IngestProgress) -> WriteStart {
        let decision = mayStartWriting(progress.digest)
        if decision == .allowed { writers[progress.digest] = progress }
        return decision
    }

    mutating func endWriting(_ digest: Digest) {
        writers[digest] = nil
        reservations[digest] = nil
    }

    mutating func startReading(_ digest: Digest) {
        readers[digest, default: 0] += 1
    }

    mutating func endReading(_ digest: Digest) {
        let left = readers[digest, default: 1] - 1
        readers[digest] = left > 0 ? left : nil
    }

    /// Claims `digest` for removal if ``mayRemove(_:)`` allows it and no other removal holds it.
    mutating func claimRemoval(_ digest: Digest) -> RemovalClaim {
        if let use = mayRemove(digest) { return .inUse(use) }
        guard removing.insert(digest).inserted else { return .alreadyRemoving }
        return .claimed
    }

    mutating func endRemoval(_ digest: Digest) {
        removing.remove(digest)
    }
}
