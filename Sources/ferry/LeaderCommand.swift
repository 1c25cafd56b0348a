import ArgumentParser
import FerryCore
import FerryPolicy
import FerryCoordinator
import FerryRegistry
import FerryServer
import FerryStore
import Foundation
import Logging
import ServiceLifecycle
import UnixSignals

struct LeaderCommand: NodeDaemonCommand {
    static let configuration = CommandConfiguration(
        commandName: "leader",
        abstract: "Run the leader: fetch images from upstream once, serve them to the cluster.",
        usage: "ferry leader [<options>] --data-dir <data-dir> [backup | restore ...]",
        discussion: """
            On first start the leader creates a cluster CA (ca.pem) and writes an admin token and a \
            join token into the data directory (files admin-token and join-token, mode 0600). The mesh \
            runs over TLS with certificates from that CA. CLI commands on the same machine find the \
            leader with --data-dir; elsewhere use --leader, --token-file (or FERRY_TOKEN) and --ca (a copy of ca.pem). \
            Followers join with tokens from `ferry token create`; `ferry nodes remove` cuts a node off.
            """,
        subcommands: [LeaderBackupCommand.self, LeaderRestoreCommand.self, LeaderNewCACommand.self]
    )

    @Option(name: .customLong("data-dir"), help: "Directory for state, store and tokens.")
    var dataDirectory: String

    @Option(help: "Address to listen on, HOST:PORT.")
    var listen: String = "0.0.0.0:\(LeaderConfiguration.defaultPort)"

    @Option(name: .customLong("registry-auth"), help: "Docker config.json-style file with upstream credentials.")
    var registryAuth: String?

    @Option(name: .customLong("upstream-rate"), parsing: .unconditional, help: "Cap on upstream download rate, e.g. 10MiB/s or 100Mbit/s.")
    var upstreamRate: String?

    @Option(name: .customLong("default-registry"), help: "Upstream for /v2/ requests without ?ns=, e.g. registry.example.com.")
    var defaultRegistry: String?

    @Option(name: .customLong("insecure-registry"), help: "A registry host:port that may be reached over plain HTTP (repeatable). Loopback always may.")
    var insecureRegistries: [String] = []

    @Option(name: .customLong("ca-file"), help: "PEM file of extra CA certificates for upstream TLS.")
    var caFile: String?

    @Option(name: .customLong("host-override"), help: "Connect to a registry NAME at ADDRESS, as NAME=ADDRESS (repeatable; TLS still verifies NAME).")
    var hostOverrides: [String] = []

    @Option(
        name: .customLong("mirror"),
        help: "Fetch a registry's images through another registry, as ORIGINAL_HOST=MIRROR_HOST[/PATH] (repeatable), e.g. registry.vendor.example=proxy.vendor.example/proxy/APP/NAME; engines get the original names.")
    var mirrors: [String] = []

    @Option(help: "Default platform to fetch, os/arch[/variant]. Default: this machine's.")
    var platform: String?

    @Option(name: .customLong("max-downloads"), parsing: .unconditional, help: "Blob downloads in flight per upstream registry.")
    var maxDownloads: Int = LeaderConfiguration.defaultDownloadsPerRegistry

    @Option(
        name: .customLong("serial-download-size"),
        help: "Blobs at least this large are downloaded one at a time, in layer order, so engines unpack each while the next arrives (0: never).")
    var serialDownloadSize: String = "\(LeaderConfiguration.defaultSerialDownloadSize >> 20)MiB"

    @Option(
        name: .customLong("blob-connections"),
        help: "Connections each of those large blobs is downloaded over at once, in ordered pieces, for an upstream that caps each connection (1: one).")
    var blobConnections: Int = LeaderConfiguration.defaultBlobConnections

    @Flag(name: .customLong("insecure-mesh"), help: "Serve plain HTTP instead of TLS (local development only).")
    var insecureMesh = false

    @Option(name: .customLong("tls-name"), help: "An extra DNS name or IP address for the leader's TLS certificate (repeatable).")
    var tlsNames: [String] = []

    @Option(
        name: .customLong("node-cert-validity"),
        help: "How long node TLS certificates are valid, e.g. 365d or 90d; followers renew theirs after two thirds of it.")
    var nodeCertValidity: String = "365d"

    @Option(
        name: .customLong("load-slot-lease"),
        help: "How long a node may hold an install's load slots without finishing before they are given to other nodes, e.g. 10m (longer for images too large to load in that time at 2 MiB/s, and 30 s more per image past the first; only time holding a slot counts).")
    var loadSlotLease: String = "10m"

    @Flag(name: .customLong("no-peers"), help: "Followers pull every blob from the leader, never from each other.")
    var noPeers = false

    @Option(name: .customLong("leader-slots"), parsing: .unconditional, help: "Concurrent uploads of one blob the leader serves before peers are preferred.")
    var leaderSlots: Int = SourceSelector.defaultLeaderSlots

    @Option(name: .customLong("peer-slots"), parsing: .unconditional, help: "Concurrent uploads of one blob a follower serves before others are preferred.")
    var peerSlots: Int = SourceSelector.defaultPeerSlots

    @Option(name: .customLong("upload-limit"), parsing: .unconditional, help: "Concurrent uploads of all blobs together past which a node (leader or follower) counts as busy.")
    var uploadLimit: Int = SourceSelector.defaultUploadLimit

    @OptionGroup
    var daemon: DaemonOptions

    var lockedDirectory: String? { dataDirectory }

    func listenAddresses() throws -> [(flag: String, host: String, port: Int)] {
        let (host, port) = try LeaderCommand.parseListen(listen)
        return [("--listen", host, port)]
    }

    func serve() async throws {
        let (host, port) = try Self.parseListen(listen)
        var registry = RegistryClientConfiguration()
        registry.insecureRegistries = Set(insecureRegistries)
        registry.caFile = caFile
        registry.rateLimit = try upstreamRate.map { text throws(FerryError) in try ByteSize.parseRate(text) }
        for entry in hostOverrides {
            let parts = entry.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
                throw FerryError(.configuration, "invalid --host-override '\(entry)': expected NAME=ADDRESS, e.g. registry.example.com=10.0.0.5")
            }
            registry.hostOverrides[parts[0]] = parts[1]
        }
        for entry in mirrors {
            let mirror = try RegistryMirror(parsing: entry)
            guard registry.mirrors[mirror.original] == nil else {
                throw FerryError(.configuration, "--mirror names \(mirror.original) twice: give one mirror per registry")
            }
            registry.mirrors[mirror.original] = mirror
        }
        var configuration = LeaderConfiguration(
            dataDirectory: dataDirectory,
            host: host,
            port: port,
            registryAuthFile: registryAuth,
            defaultRegistry: defaultRegistry,
            platform: try platform.map { text throws(FerryError) in try Platform(parsing: text) } ?? .host,
            maxConcurrentDownloadsPerRegistry: max(maxDownloads, 1),
            registry: registry,
            store: try daemon.store(),
            sources: SourceSelector(peerSlots: peerSlots, leaderSlots: leaderSlots, peersEnabled: !noPeers, uploadLimit: uploadLimit),
            maxUploadRate: try daemon.uploadRate(),
            insecureMesh: insecureMesh,
            tlsNames: tlsNames
        )
        configuration.http = try daemon.http()
        configuration.serialDownloadSize = try ByteSize.parse(serialDownloadSize)
        // Every value's own check (DaemonSetting) has run before serve().
        configuration.blobConnections = blobConnections
        configuration.nodeCertificateValidity = try TimeToLive.parse(nodeCertValidity)
        configuration.loadSlotLease = try TimeToLive.parse(loadSlotLease)
        daemon.service.bootstrap()
        let logger = Logger(label: "ferry.leader")
        if let warning = daemon.reserveWarning(dataDirectory: dataDirectory) { logger.warning("\(warning)") }
        let notifier = SystemdNotifier(environment: ProcessInfo.processInfo.environment)
        let leader = try LeaderService(
            configuration: try daemon.gc.applied(to: configuration), logger: logger, listening: { url in notifier.ready(status: "listening on \(url)") })
        try await notifier.run(leader, logger: logger)
        }

    static func parseListen(_ text: String) throws(FerryError) -> (String, Int) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port) else {
            throw FerryError(.configuration, "invalid --listen '\(text)': expected HOST:PORT, e.g. 0.0.0.0:5050")
        }
        var host = String(text[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return (host.isEmpty ? "0.0.0.0" : host, port)
    }
}
