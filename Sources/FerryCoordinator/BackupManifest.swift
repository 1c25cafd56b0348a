import FerryCore
import Foundation

/// What a leader backup holds (`backup.json`, written last): every file with its size and
/// SHA-256, so that a restore can tell a whole backup from an interrupted or damaged one.
public struct BackupManifest: Codable, Sendable, Hashable {
    /// The format this build writes and reads.
    public static let currentFormat = 1
    /// The manifest's file name inside a backup.
    public static let fileName = "backup.json"

    public struct Entry: Codable, Sendable, Hashable {
        /// Relative to the backup (and to the data directory it restores into).
        public var path: String
        public var size: Int64
        /// Lowercase hex.
        public var sha256: String

        public init(path: String, size: Int64, sha256: String) {
            self.path = path
            self.size = size
            self.sha256 = sha256
        }
    }

    public var format: Int
    /// The release that wrote it.
    public var ferryVersion: String
    public var createdAt: Date
    /// Whether the blob store is in it.
    public var withStore: Bool
    public var entries: [Entry]

    public init(format: Int = Self.currentFormat, ferryVersion: String = FerryVersion.current, createdAt: Date, withStore: Bool, entries: [Entry]) {
        self.format = format
        self.ferryVersion = ferryVersion
        self.createdAt = createdAt
        self.withStore = withStore
        self.entries = entries
    }

    /// Whether `path` may be named in a manifest: relative, no `..`, no empty parts. A restore
    /// writes only there, inside the new data directory.
    public static func isSafe(_ path: String) -> Bool {
        guard !path.isEmpty, !path.hasPrefix("/") else { return false }
        return path.split(separator: "/", omittingEmptySubsequences: false).allSatisfy { !$0.isEmpty && $0 != "." && $0 != ".." }
    }

    /// Checks the manifest itself: a format this build reads, the database in it, safe paths,
    /// no path twice. Nil when it is fine.
    public func problem() -> String? {
        guard format == Self.currentFormat else {
            return "it has format \(format), which ferry \(FerryVersion.current) does not read (it reads \(Self.currentFormat))"
        }
        guard entries.contains(where: { $0.path == LeaderBackup.databaseFile }) else { return "it holds no \(LeaderBackup.databaseFile)" }
        if let bad = entries.first(where: { !Self.isSafe($0.path) }) { return "it names an unsafe path '\(bad.path.prefix(100))'" }
        guard Set(entries.map(\.path)).count == entries.count else { return "it names a file twice" }
        return nil
    }

    /// What is wrong with a file found as `size` bytes hashing to `sha256` (nil: missing),
    /// compared with `entry`; nil when it matches.
    public static func mismatch(_ entry: Entry, size: Int64?, sha256: String?) -> String? {
        guard let size else { return "\(entry.path) is missing" }
        if size != entry.size { return "\(entry.path) is \(size) bytes, not \(entry.size)\(size < entry.size ? " (truncated)" : "")" }
        if sha256 != entry.sha256 { return "\(entry.path) does not match its SHA-256" }
        return nil
    }
}
