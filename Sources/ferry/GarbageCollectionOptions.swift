import ArgumentParser
import FerryCore
import FerryCoordinator

/// `--gc-high-watermark`, `--gc-low-watermark`, `--gc-keep`: automatic garbage collection of
/// `ferry leader` and `ferry follower`.
struct GarbageCollectionOptions: ParsableArguments {
    @Option(
        name: .customLong("gc-high-watermark"),
        help: "Collect garbage automatically when the store's file system is fuller than this, e.g. 90%; 'off' never does.")
    var highWatermark: String = GarbageCollectionConfiguration.format(GarbageCollectionConfiguration.defaultHighWatermark)

    @Option(name: .customLong("gc-low-watermark"), help: "Automatic collection frees space down to this, e.g. 75%.")
    var lowWatermark: String = GarbageCollectionConfiguration.format(GarbageCollectionConfiguration.defaultLowWatermark)

    @Option(
        name: .customLong("gc-keep"), parsing: .unconditional,
        help: "Versions of each repository automatic collection keeps. Default: every image (only unreferenced blobs go).")
    var keep: Int?

    func configuration() throws(FerryError) -> GarbageCollectionConfiguration {
        var configuration = GarbageCollectionConfiguration()
        configuration.highWatermark = try GarbageCollectionConfiguration.parseWatermark(highWatermark)
        guard let low = try GarbageCollectionConfiguration.parseWatermark(lowWatermark) else {
            throw FerryError(.configuration, "--gc-low-watermark cannot be 'off'; turn automatic collection off with --gc-high-watermark off")
        }
        configuration.lowWatermark = low
        configuration.keep = keep
        try configuration.validate()
        return configuration
    }

    func applied(to configuration: LeaderConfiguration) throws(FerryError) -> LeaderConfiguration {
        var configuration = configuration
        configuration.garbageCollection = try self.configuration()
        return configuration
    }

    func applied(to configuration: FollowerConfiguration) throws(FerryError) -> FollowerConfiguration {
        var configuration = configuration
        configuration.garbageCollection = try self.configuration()
        return configuration
    }
}
