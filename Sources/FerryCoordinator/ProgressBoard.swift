import FerryCore
import Synchronization

/// Live byte counts of transfers in flight, read by status requests and flushed to the
/// database now and then (the database is what survives a restart; this is what is current),
/// with when each last moved.
public final class ProgressBoard: Sendable {
    private struct Entry {
        var bytes: Int64
        var movedAt: ContinuousClock.Instant
    }

    private let entries = Mutex<[Digest: Entry]>([:])

    public init() {}

    public func set(_ digest: Digest, _ value: Int64, now: ContinuousClock.Instant = .now) {
        entries.withLock { entries in
            if let entry = entries[digest], entry.bytes == value { return }
            entries[digest] = Entry(bytes: value, movedAt: now)
        }
    }

    public func remove(_ digest: Digest) {
        _ = entries.withLock { $0.removeValue(forKey: digest) }
    }

    public func value(_ digest: Digest) -> Int64? {
        entries.withLock { $0[digest]?.bytes }
    }

    public func snapshot() -> [Digest: Int64] {
        entries.withLock { $0.mapValues(\.bytes) }
    }

    /// Whether the transfer of `digest` in flight has not moved for `atLeast`.
    public func hasStood(_ digest: Digest, for atLeast: Duration, now: ContinuousClock.Instant = .now) -> Bool {
        entries.withLock { $0[digest].map { now - $0.movedAt >= atLeast } ?? false }
    }

    /// The transfers in flight that have not moved for `atLeast`, with how long they have not.
    public func stalled(for atLeast: Duration, now: ContinuousClock.Instant = .now) -> [Digest: Duration] {
        entries.withLock { entries in entries.compactMapValues { now - $0.movedAt >= atLeast ? now - $0.movedAt : nil } }
    }
}
