import FerryCore
import Synchronization

/// Live byte counts of transfers in flight, read by status requests and flushed to the
/// database now and then (the database is what survives a restart; this is what is current).
public final class ProgressBoard: Sendable {
    private let bytes = Mutex<[Digest: Int64]>([:])

    public init() {}

    public func set(_ digest: Digest, _ value: Int64) {
        bytes.withLock { $0[digest] = value }
    }

    public func remove(_ digest: Digest) {
        _ = bytes.withLock { $0.removeValue(forKey: digest) }
    }

    public func value(_ digest: Digest) -> Int64? {
        bytes.withLock { $0[digest] }
    }

    public func snapshot() -> [Digest: Int64] {
        bytes.withLock { $0 }
    }
}
