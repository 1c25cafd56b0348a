import ArgumentParser
import FerryConcurrency
import FerryCore
import FerryCoordinator
import FerryServer
import FerryStore
import Foundation
import Logging
import ServiceLifecycle
import UnixSignals

struct FollowerCommand: NodeDaemonCommand {
    static let configuration = CommandConfiguration(
        commandName: "follower",
        abstract: "Run a follower: join the leader and install images into this node's Docker engine.",
        discussion: """
            The first start joins with a join token (--join-token-file or FERRY_JOIN_TOKEN: one from \
            `ferry token create`, or the leader's DATA_DIR/join-token) and keeps the node credential it \
            receives in DATA_DIR/node.json (mode 0600); later starts reuse it. The name belongs to this \
            node from then on: another machine can take it only after `ferry nodes remove NAME`. \
            SIGTERM or SIGINT stops it within seconds (exit status 0): downloads and loads stop and \
            resume at the next start.
            """
    )

    @Option(name: .customLong("data-dir"), help: "Directory for the node credential, state and store.")
    var dataDirectory: String

    @Option(help: "Address to listen on, HOST:PORT.")
    var listen: String = "0.0.0.0:\(FollowerConfiguration.defaultPort)"

    @Option(help: "The leader's URL, e.g. https://10.0.0.1:5050.")
    var leader: String

    @Option(
        name: .customLong("join-token-file"),
        help: "A file holding a join token (from `ferry token create`, or the leader's DATA_DIR/join-token); needed until this node has joined. Or set FERRY_JOIN_TOKEN.")
    var joinTokenFile: String?

    @Option(
        name: .customLong("join-token"),
        help: "A join token. Discouraged: every local user sees it in `ps`; use --join-token-file or FERRY_JOIN_TOKEN.")
    var joinToken: String?

    @Option(help: "This node's name in the cluster. Default: the host name.")
    var name: String?

    @Option(name: .customLong("docker-host"), help: "The Docker engine's socket.")
    var dockerHost: String = FollowerConfiguration.defaultDockerHost

    @Option(help: "The URL other nodes reach this one at.")
    var advertise: String?

    @Option(name: .customLong("max-download-rate"), parsing: .unconditional, help: "Cap on bytes received from the mesh, e.g. 50MiB/s or 1Gbit/s.")
    var maxDownloadRate: String?

    @Option(
        name: .customLong("containerd-hosts-dir"),
        help: "containerd's registry host directory (e.g. /etc/containerd/certs.d): make this follower containerd's mirror for the registries of this node's images (writes DIR/<registry>/hosts.toml, mode 0600, holding the node credential).")
    var containerdHostsDirectory: String?

    @Option(
        name: .customLong("insecure-registry"),
        help: "With --containerd-hosts-dir: a registry host:port that speaks plain HTTP, so containerd's fallback to it uses http:// (repeatable). Loopback always does.")
    var insecureRegistries: [String] = []

    @Option(
        name: .customLong("default-registry"),
        help: "Upstream for tags asked of this node's /v2/ without ?ns=, e.g. registry.example.com (for skopeo or docker pulling from the node).")
    var defaultRegistry: String?

    @Option(
        help: "How images reach the Docker engine: 'load' (a docker-archive streamed into POST /images/load) or 'pull' (the engine pulls from this follower's loopback registry).")
    var handoff: String = FollowerConfiguration.defaultHandoff.rawValue

    @Option(
        name: .customLong("local-registry-port"),
        help: "Port of the loopback registry (127.0.0.1 only, plain HTTP, this node's images) that containerd and, with --handoff pull, the Docker engine pull from; 0 picks a free one.")
    var localRegistryPort: Int = 0

    @Flag(name: .customLong("insecure-mesh"), help: "Allow a plain-HTTP leader (local development only).")
    var insecureMesh = false

    @Option(name: .customLong("mesh-protocol"), help: ArgumentHelp("Mesh protocol version to claim (tests only).", visibility: .private))
    var meshProtocol: Int?

    @OptionGroup
    var daemon: DaemonOptions

    var lockedDirectory: String? { dataDirectory }

    func listenAddresses() throws -> [(flag: String, host: String, port: Int)] {
        let (host, port) = try LeaderCommand.parseListen(listen)
        // The loopback registry for the pull handoff (port 0: any free one).
        return [("--listen", host, port), ("--local-registry-port", "127.0.0.1", localRegistryPort)]
    }

    func serve() async throws {
        let (host, port) = try LeaderCommand.parseListen(listen)
        var configuration = FollowerConfiguration(
            dataDirectory: dataDirectory,
            leaderURL: leader.hasSuffix("/") ? String(leader.dropLast()) : leader,
            joinToken: try joinTokenFile.map { file throws(FerryError) in try LeaderConnection.readSecret(file, what: "join token", warn: false) }
                ?? joinToken ?? ProcessInfo.processInfo.environment["FERRY_JOIN_TOKEN"].flatMap { $0.isEmpty ? nil : $0 },
            name: name ?? Self.hostName(),
            host: host,
            port: port,
            dockerHost: dockerHost,
            advertiseURL: advertise,
            maxDownloadRate: try maxDownloadRate.map { text throws(FerryError) in try ByteSize.parseRate(text) },
            maxUploadRate: try daemon.uploadRate(),
            store: try daemon.store(),
            insecureMesh: insecureMesh
        )
        configuration.http = try daemon.http()
        if let meshProtocol { configuration.meshProtocol = meshProtocol }
        configuration.containerdHostsDirectory = containerdHostsDirectory.map { $0.hasSuffix("/") && $0.count > 1 ? String($0.dropLast()) : $0 }
        configuration.localRegistryPort = localRegistryPort
        configuration.insecureRegistries = Set(insecureRegistries)
        configuration.defaultRegistry = defaultRegistry
        guard let handoff = FollowerConfiguration.Handoff(rawValue: handoff) else {
            throw FerryError(.configuration, "invalid --handoff '\(handoff.prefix(40))': use 'load' or 'pull'")
        }
        configuration.handoff = handoff
        daemon.service.bootstrap()
        let logger = Logger(label: "ferry.follower")
        // Only the command line shows in `ps` (not FERRY_JOIN_TOKEN or a configuration file).
        if CommandLine.arguments.contains(where: { $0 == "--join-token" || $0.hasPrefix("--join-token=") }) {
            logger.warning("--join-token is visible to every local user in `ps`: use --join-token-file FILE or FERRY_JOIN_TOKEN")
        }
        if let file = joinTokenFile, let warning = PathAccess.openSecretNotice(file, what: "join token") { logger.warning("\(warning)") }
        if let warning = daemon.reserveWarning(dataDirectory: dataDirectory) { logger.warning("\(warning)") }
        let notifier = SystemdNotifier(environment: ProcessInfo.processInfo.environment)
        let follower = try FollowerService(
            configuration: try daemon.gc.applied(to: configuration), logger: logger, listening: { url in notifier.ready(status: "listening on \(url)") })
        // Join first, so that a refused join token ends the command with one clear line. A
        // leader that does not answer keeps the join waiting: SIGTERM or SIGINT then ends the
        // follower at once, with status 0 (nothing of this node runs yet). Once joined, they stop
        // the work at once; requests other nodes are making get a short grace. One handler for
        // the whole run: once one that ended at the join was gone, the signals went unanswered
        // (swallowed) until the service group's own was installed, and a SIGTERM then was lost
        // (the follower ran on).
        let running = notifier.group(follower, logger: logger, grace: FollowerService.shutdownGrace, signals: [])
        let joined = Latch()
        let signals = await UnixSignalsSequence(trapping: .sigterm, .sigint)
        let stopping = Task {
            for await signal in signals {
                guard joined.isSet else {
                    logger.notice("stopped before joining the leader", metadata: ["signal": "\(signal)"])
                    Foundation.exit(0)
                }
                logger.debug("stopping", metadata: ["signal": "\(signal)"])
                await running.triggerGracefulShutdown()
            }
        }
        defer { stopping.cancel() }
        try await follower.join()
        joined.set()
        try await running.run()
        }

    static func hostName() -> String {
        ProcessInfo.processInfo.hostName.split(separator: ".").first.map { String($0).lowercased() } ?? "node"
    }
}
