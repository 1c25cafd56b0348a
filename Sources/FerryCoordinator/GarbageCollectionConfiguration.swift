import FerryCore
import FerryStore

/// When and how a node (leader or follower) collects garbage on its own.
///
/// Automatic collection starts when disk usage of the store's file system passes
/// ``highWatermark`` — checked every ``interval`` and before each download that would pass it —
/// and removes unreferenced blobs, least recently used first, until usage is at or below
/// ``lowWatermark``. `ferry gc` works whatever these say.
public struct GarbageCollectionConfiguration: Sendable {
    /// Default watermarks (shares of the file system), named once for the initialiser and the flags.
    public static let defaultHighWatermark = 0.90
    public static let defaultLowWatermark = 0.75

    /// Share of the disk (0…1) above which collection starts; nil turns automatic collection
    /// off. Default 0.90 (`--gc-high-watermark 90%`).
    public var highWatermark: Double?
    /// Share of the disk (0…1) automatic collection brings usage down to. Default 0.75
    /// (`--gc-low-watermark 75%`).
    public var lowWatermark: Double
    /// Versions of each repository automatic collection keeps (older images are dropped); nil
    /// keeps every image, so only blobs no image references are removed. Default nil (`--gc-keep`).
    public var keep: Int?
    /// How often disk usage is checked. Default 30 s.
    public var interval: Duration
    /// How disk usage is measured. Default: `statvfs` of the store's file system. Tests
    /// substitute their own.
    public var diskUsage: @Sendable (BlobStore) -> DiskUsage?

    public init(
        highWatermark: Double? = defaultHighWatermark,
        lowWatermark: Double = defaultLowWatermark,
        keep: Int? = nil,
        interval: Duration = .seconds(30),
        diskUsage: @escaping @Sendable (BlobStore) -> DiskUsage? = { $0.diskUsage() }
    ) {
        self.highWatermark = highWatermark
        self.lowWatermark = lowWatermark
        self.keep = keep
        self.interval = interval
        self.diskUsage = diskUsage
    }

    /// Throws ``FerryError/Code/configuration`` unless the watermarks are shares of the disk with
    /// the low one below the high one, and `keep` is at least 1.
    public func validate() throws(FerryError) {
        guard lowWatermark > 0, lowWatermark < 1 else {
            throw FerryError(.configuration, "the low watermark must be between 0% and 100%, e.g. 75%")
        }
        if let highWatermark {
            guard highWatermark > 0, highWatermark <= 1 else {
                throw FerryError(.configuration, "the high watermark must be between 0% and 100%, e.g. 90%, or 'off'")
            }
            guard lowWatermark < highWatermark else {
                throw FerryError(
                    .configuration,
                    "the low watermark (\(Self.format(lowWatermark))) must be below the high watermark (\(Self.format(highWatermark)))")
            }
        }
        if let keep, keep < 1 { throw FerryError(.configuration, "--gc-keep must be at least 1") }
    }

    /// Parses a watermark: `90%`, `90` or `0.9`; `off` (or `none`) gives nil.
    public static func parseWatermark(_ text: String) throws(FerryError) -> Double? {
        let trimmed = text.trimmingWhitespace().lowercased()
        if trimmed == "off" || trimmed == "none" { return nil }
        let number = trimmed.hasSuffix("%") ? String(trimmed.dropLast()) : trimmed
        guard let value = Double(number), value.isFinite, value > 0 else {
            throw FerryError(.configuration, "invalid watermark '\(text)': expected a percentage of the disk, e.g. 90%")
        }
        let share = trimmed.hasSuffix("%") || value > 1 ? value / 100 : value
        guard share <= 1 else { throw FerryError(.configuration, "invalid watermark '\(text)': at most 100%") }
        return share
    }

    public static func format(_ share: Double) -> String {
        let percent = (share * 1000).rounded() / 10
        return percent == percent.rounded() ? "\(Int(percent))%" : "\(percent)%"
    }
}
