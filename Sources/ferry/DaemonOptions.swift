import ArgumentParser
import FerryCore
import FerryServer
import FerryStore
import Foundation

/// The options `ferry leader` and `ferry follower` share: automatic garbage collection, disk
/// reserve, connection idle timeout, upload cap, and the ``ServiceOptions`` (configuration file,
/// logging).
struct DaemonOptions: ParsableArguments {
    @OptionGroup(title: "Garbage collection")
    var gc: GarbageCollectionOptions

    @OptionGroup
    var service: ServiceOptions

    @Option(
        name: .customLong("max-upload-rate"), parsing: .unconditional,
        help: "Cap on bytes per second this node serves (the leader to followers, a follower to peers), e.g. 100MiB/s.")
    var maxUploadRate: String?

    @Option(name: .customLong("reserved-space"), parsing: .unconditional, help: "Disk space to keep free in the data directory, e.g. 1GiB.")
    var reservedSpace: String = "256MiB"

    @Option(name: .customLong("idle-timeout"), parsing: .unconditional, help: "Seconds a connection may wait for a complete request before it is closed.")
    var idleTimeout: Int = Int(HTTPLimits.defaultIdleTimeout.components.seconds)

    @Option(
        name: .customLong("max-connections-per-client"), parsing: .unconditional,
        help: "Connections one client address may hold open at once on each listener; the next is closed at once. 0: no cap.")
    var maxConnectionsPerClient: Int = HTTPLimits.defaultMaxConnectionsPerClient

    /// The store configuration `--reserved-space` asks for, refused when the reserve is at least
    /// the whole file system that holds `dataDirectory` (or would hold it: its nearest existing
    /// parent): nothing could ever be downloaded there.
    func store(dataDirectory: String) throws(FerryError) -> BlobStoreConfiguration {
        let reserve = try ByteSize.parse(reservedSpace)
        var path = dataDirectory.isEmpty ? "." : dataDirectory
        while !FileManager.default.fileExists(atPath: path), path != "/", !path.isEmpty {
            path = (path as NSString).deletingLastPathComponent
            if path.isEmpty { path = "." }
        }
        if let disk = DiskUsage(ofFileSystemAt: path), disk.capacity > 0, reserve >= disk.capacity {
            throw FerryError(
                .configuration,
                "--reserved-space \(ByteSize.format(reserve)) is at least the whole file system holding \(dataDirectory) (\(ByteSize.format(disk.capacity))): nothing could ever be downloaded there; give a smaller --reserved-space")
        }
        return BlobStoreConfiguration(reservedSpace: reserve)
    }

    /// `--max-upload-rate`, in bytes per second, if given.
    func uploadRate() throws(FerryError) -> Int64? {
        try maxUploadRate.map { text throws(FerryError) in try ByteSize.parseRate(text) }
    }

    /// `--idle-timeout`: a whole number of seconds above 0.
    func idle() throws(FerryError) -> Duration {
        guard idleTimeout > 0 else {
            throw FerryError(.configuration, "invalid --idle-timeout \(idleTimeout): expected a number of seconds above 0, e.g. 75")
        }
        return .seconds(idleTimeout)
    }

    /// The HTTP limits `--idle-timeout` and `--max-connections-per-client` ask for.
    func http() throws(FerryError) -> HTTPLimits {
        guard maxConnectionsPerClient >= 0 else {
            throw FerryError(
                .configuration,
                "invalid --max-connections-per-client \(maxConnectionsPerClient): expected a whole number of 0 (no cap) or more, e.g. \(HTTPLimits.defaultMaxConnectionsPerClient)")
        }
        return HTTPLimits(idleTimeout: try idle(), maxConnectionsPerClient: maxConnectionsPerClient)
    }
}
