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
        name: .customLong("send-timeout"), parsing: .unconditional,
        help: "Seconds a client may take nothing of a response before its connection is closed.")
    var sendTimeout: Int = Int(HTTPLimits.defaultSendTimeout.components.seconds)

    @Option(
        name: .customLong("max-connections-per-client"), parsing: .unconditional,
        help: "Connections one client address may hold open at once on each listener; the next is closed at once. 0: no cap.")
    var maxConnectionsPerClient: Int = HTTPLimits.defaultMaxConnectionsPerClient

    /// The store configuration `--reserved-space` asks for.
    func store() throws(FerryError) -> BlobStoreConfiguration {
        BlobStoreConfiguration(reservedSpace: try ByteSize.parse(reservedSpace))
    }

    /// A warning when the reserve is at least the whole file system that holds the store
    /// (`DATA_DIR/store`, or the nearest directory above it that exists): nothing can be
    /// downloaded there until the reserve is lowered. A warning, not a refusal: what the node
    /// already holds still serves. Nil when it fits, or when the file system cannot be read.
    func reserveWarning(dataDirectory: String) -> String? {
        guard let reserve = try? ByteSize.parse(reservedSpace), reserve > 0 else { return nil }
        var path = (dataDirectory.isEmpty ? "." : dataDirectory) + "/store"
        var isDirectory: ObjCBool = false
        while !(FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue) {
            let parent = (path as NSString).deletingLastPathComponent
            let next = parent.isEmpty ? "." : parent
            guard next != path else { return nil }
            path = next
        }
        guard let disk = DiskUsage(ofFileSystemAt: path), disk.capacity > 0, reserve >= disk.capacity else { return nil }
        return "--reserved-space \(ByteSize.format(reserve)) is at least the whole file system holding \(TerminalText.escape(path, limit: 200)) (\(ByteSize.format(disk.capacity))): nothing can be downloaded into the store until you give a smaller --reserved-space"
    }

    /// `--max-upload-rate`, in bytes per second, if given.
    func uploadRate() throws(FerryError) -> Int64? {
        try maxUploadRate.map { text throws(FerryError) in try ByteSize.parseRate(text) }
    }

    /// `--idle-timeout` or `--send-timeout`: a whole number of seconds above 0.
    static func seconds(_ value: Int, option: String, example: Duration) throws(FerryError) -> Duration {
        guard value > 0 else {
            throw FerryError(.configuration, "invalid --\(option) \(value): expected a number of seconds above 0, e.g. \(example.components.seconds)")
        }
        return .seconds(value)
    }

    /// The HTTP limits `--idle-timeout`, `--send-timeout` and `--max-connections-per-client` ask for.
    func http() throws(FerryError) -> HTTPLimits {
        guard maxConnectionsPerClient >= 0 else {
            throw FerryError(
                .configuration,
                "invalid --max-connections-per-client \(maxConnectionsPerClient): expected a whole number of 0 (no cap) or more, e.g. \(HTTPLimits.defaultMaxConnectionsPerClient)")
        }
        return HTTPLimits(
            idleTimeout: try Self.seconds(idleTimeout, option: "idle-timeout", example: HTTPLimits.defaultIdleTimeout),
            sendTimeout: try Self.seconds(sendTimeout, option: "send-timeout", example: HTTPLimits.defaultSendTimeout),
            maxConnectionsPerClient: maxConnectionsPerClient)
    }
}
