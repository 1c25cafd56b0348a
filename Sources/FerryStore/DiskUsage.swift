#if canImport(Glibc)
import Glibc
#endif

/// How full a file system is, as `df` counts it: `used` is what is taken, `available` what an
/// unprivileged writer may still use, and the percentage is `used / (used + available)`.
public struct DiskUsage: Sendable, Hashable, CustomStringConvertible {
    /// Bytes taken.
    public var used: Int64
    /// Bytes an unprivileged writer may still use.
    public var available: Int64

    public init(used: Int64, available: Int64) {
        self.used = max(used, 0)
        self.available = max(available, 0)
    }

    /// The file system holding `path`, from `statvfs`; nil when it cannot be read.
    public init?(ofFileSystemAt path: String) {
        var info = statvfs()
        guard statvfs(path, &info) == 0 else { return nil }
        let unit = Int64(info.f_frsize)
        self.init(used: Int64(info.f_blocks - info.f_bfree) * unit, available: Int64(info.f_bavail) * unit)
    }

    /// `used + available`: what the percentage is of.
    public var capacity: Int64 { used + available }

    /// Used share of the capacity, 0…1.
    public var fraction: Double { capacity > 0 ? Double(used) / Double(capacity) : 0 }

    /// Whether writing `incoming` more bytes would take usage above `watermark` (a fraction).
    public func exceeds(_ watermark: Double, adding incoming: Int64 = 0) -> Bool {
        Double(used + max(incoming, 0)) > watermark * Double(capacity)
    }

    /// Bytes to free so that, after writing `incoming` more, usage is at most `watermark`.
    public func bytesToFree(toReach watermark: Double, adding incoming: Int64 = 0) -> Int64 {
        max(used + max(incoming, 0) - Int64((watermark * Double(capacity)).rounded(.down)), 0)
    }

    public var description: String {
        let percent = (fraction * 1000).rounded() / 10
        return "\(percent)% of \(capacity) bytes"
    }
}

extension BlobStore {
    /// How full the store's file system is (`statvfs`).
    public func diskUsage() -> DiskUsage? { DiskUsage(ofFileSystemAt: root) }
}
