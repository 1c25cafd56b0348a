import FerryConfig
import FerryCore
import FerryCoordinator
import FerryProxy
import FerryRegistry

/// One key of a daemon's configuration: how the file, the environment and the flag give it
/// (``ConfigOption``) and how `--print-config` reads its effective value from the parsed command.
struct DaemonSetting<Command>: Sendable {
    let option: ConfigOption
    let value: @Sendable (Command) -> ConfigValue?

    static func string(
        _ key: String, secret: Bool = false, check: (@Sendable (String) throws(FerryError) -> Void)? = nil,
        _ get: @escaping @Sendable (Command) -> String?
    ) -> Self {
        Self(option: ConfigOption(key, .string, secret: secret, check: check), value: { get($0).map(ConfigValue.string) })
    }

    static func integer(
        _ key: String, check: (@Sendable (String) throws(FerryError) -> Void)? = nil, _ get: @escaping @Sendable (Command) -> Int?
    ) -> Self {
        Self(option: ConfigOption(key, .integer, check: check), value: { get($0).map(ConfigValue.integer) })
    }

    static func flag(_ key: String, _ get: @escaping @Sendable (Command) -> Bool) -> Self {
        Self(option: ConfigOption(key, .flag), value: { .flag(get($0)) })
    }

    static func list(
        _ key: String, check: (@Sendable (String) throws(FerryError) -> Void)? = nil, _ get: @escaping @Sendable (Command) -> [String]
    ) -> Self {
        Self(option: ConfigOption(key, .list, check: check), value: { .list(get($0)) })
    }

    /// The same setting read from a part of the command (an option group).
    func lifted<Outer>(_ part: @escaping @Sendable (Outer) -> Command) -> DaemonSetting<Outer> {
        let value = self.value
        return DaemonSetting<Outer>(option: option, value: { value(part($0)) })
    }
}

/// Checks of values shared by several keys: each throws the message a bad value gets.
enum SettingCheck {
    static let size: @Sendable (String) throws(FerryError) -> Void = { text throws(FerryError) in _ = try ByteSize.parse(text) }
    static let rate: @Sendable (String) throws(FerryError) -> Void = { text throws(FerryError) in _ = try ByteSize.parseRate(text) }
    static let listen: @Sendable (String) throws(FerryError) -> Void = { text throws(FerryError) in _ = try LeaderCommand.parseListen(text) }
    static let platform: @Sendable (String) throws(FerryError) -> Void = { text throws(FerryError) in _ = try Platform(parsing: text) }
    static let watermark: @Sendable (String) throws(FerryError) -> Void = { text throws(FerryError) in
        _ = try GarbageCollectionConfiguration.parseWatermark(text)
    }
    static let positive: @Sendable (String) throws(FerryError) -> Void = { text throws(FerryError) in
        guard let number = Int(text), number > 0 else { throw FerryError(.configuration, "expected a whole number above 0, found \(text)") }
    }
    static let database: @Sendable (String) throws(FerryError) -> Void = { text throws(FerryError) in _ = try ProxyDatabaseURL(parsing: text) }
    static let registry: @Sendable (String) throws(FerryError) -> Void = { text throws(FerryError) in
        guard ImageReference.isValidRegistry(text) else {
            throw FerryError(.configuration, "'\(text.prefix(100))' is not a registry host: give host or host:port, without a scheme or path")
        }
    }
    static let mirror: @Sendable (String) throws(FerryError) -> Void = { text throws(FerryError) in _ = try RegistryMirror(parsing: text) }
    static func oneOf(_ choices: [String]) -> @Sendable (String) throws(FerryError) -> Void {
        { text throws(FerryError) in
            guard choices.contains(text) else {
                throw FerryError(.configuration, "expected one of \(choices.joined(separator: ", ")), found '\(text)'")
            }
        }
    }
    static let port: @Sendable (String) throws(FerryError) -> Void = { text throws(FerryError) in
        guard let number = Int(text), (0...65535).contains(number) else {
            throw FerryError(.configuration, "expected a port from 1 to 65535, or 0 for a free one, found \(text)")
        }
    }
    static let notNegative: @Sendable (String) throws(FerryError) -> Void = { text throws(FerryError) in
        guard let number = Int(text), number >= 0 else { throw FerryError(.configuration, "expected a whole number of 0 or more, found \(text)") }
    }
    static let certificateValidity: @Sendable (String) throws(FerryError) -> Void = { text throws(FerryError) in
        let minimum = LeaderConfiguration.minimumNodeCertificateValidity
        guard try TimeToLive.parse(text) >= minimum else {
            throw FerryError(.configuration, "\(text) is too short: give at least \(minimum.components.seconds)s")
        }
    }
    static let loadSlotLease: @Sendable (String) throws(FerryError) -> Void = { text throws(FerryError) in
        let minimum = LeaderConfiguration.minimumLoadSlotLease
        guard try TimeToLive.parse(text) >= minimum else {
            throw FerryError(.configuration, "\(text) is too short: give at least \(minimum.components.seconds)s")
        }
    }
    static let hostOverride: @Sendable (String) throws(FerryError) -> Void = { text throws(FerryError) in
        let parts = text.split(separator: "=", maxSplits: 1)
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
            throw FerryError(.configuration, "invalid host override '\(text)': expected NAME=ADDRESS, e.g. registry.example.com=10.0.0.5")
        }
    }
}

extension DaemonOptions {
    /// The keys `ferry leader` and `ferry follower` share.
    static let settings: [DaemonSetting<DaemonOptions>] = GarbageCollectionOptions.settings.map { setting in setting.lifted { $0.gc } } + [
        .string("max-upload-rate", check: SettingCheck.rate) { $0.maxUploadRate },
        .string("reserved-space", check: SettingCheck.size) { $0.reservedSpace },
        .integer("idle-timeout", check: SettingCheck.positive) { $0.idleTimeout },
        .integer("send-timeout", check: SettingCheck.positive) { $0.sendTimeout },
        .integer("max-connections-per-client", check: SettingCheck.notNegative) { $0.maxConnectionsPerClient },
    ] + ServiceOptions.settings.map { setting in setting.lifted { $0.service } }
}

extension ServiceOptions {
    /// The keys every long-running command has (`config` and `print-config` are not keys).
    static let settings: [DaemonSetting<ServiceOptions>] = [
        .string("log-level", check: SettingCheck.oneOf(LogLevelOption.allCases.map(\.rawValue))) { $0.logLevel.rawValue },
        .string("log-format", check: SettingCheck.oneOf(LogFormatOption.allCases.map(\.rawValue))) { $0.logFormat.rawValue },
    ]
}

extension GarbageCollectionOptions {
    static let settings: [DaemonSetting<GarbageCollectionOptions>] = [
        .string("gc-high-watermark", check: SettingCheck.watermark) { $0.highWatermark },
        .string("gc-low-watermark", check: SettingCheck.watermark) { $0.lowWatermark },
        .integer("gc-keep", check: SettingCheck.positive) { $0.keep },
    ]
}

extension LeaderCommand {
    /// Its own keys, in the order `--print-config` shows them (``NodeDaemonCommand/settings`` adds the shared ones).
    static let ownSettings: [DaemonSetting<LeaderCommand>] = [
        .string("data-dir") { $0.dataDirectory },
        .string("listen", check: SettingCheck.listen) { $0.listen },
        .string("registry-auth") { $0.registryAuth },
        .string("upstream-rate", check: SettingCheck.rate) { $0.upstreamRate },
        .string("default-registry", check: SettingCheck.registry) { $0.defaultRegistry },
        .list("insecure-registry") { $0.insecureRegistries },
        .string("ca-file") { $0.caFile },
        .list("host-override", check: SettingCheck.hostOverride) { $0.hostOverrides },
        .list("mirror", check: SettingCheck.mirror) { $0.mirrors },
        .string("platform", check: SettingCheck.platform) { $0.platform },
        .integer("max-downloads", check: SettingCheck.positive) { $0.maxDownloads },
        .string("serial-download-size", check: SettingCheck.size) { $0.serialDownloadSize },
        .integer("blob-connections", check: SettingCheck.positive) { $0.blobConnections },
        .flag("insecure-mesh") { $0.insecureMesh },
        .list("tls-name") { $0.tlsNames },
        .flag("no-peers") { $0.noPeers },
        .integer("leader-slots", check: SettingCheck.positive) { $0.leaderSlots },
        .integer("peer-slots", check: SettingCheck.positive) { $0.peerSlots },
        .integer("upload-limit", check: SettingCheck.positive) { $0.uploadLimit },
        .string("node-cert-validity", check: SettingCheck.certificateValidity) { $0.nodeCertValidity },
        .string("load-slot-lease", check: SettingCheck.loadSlotLease) { $0.loadSlotLease },
    ]
}

extension FollowerCommand {
    /// Its own keys, in the order `--print-config` shows them (``NodeDaemonCommand/settings`` adds the shared ones).
    static let ownSettings: [DaemonSetting<FollowerCommand>] = [
        .string("data-dir") { $0.dataDirectory },
        .string("listen", check: SettingCheck.listen) { $0.listen },
        .string("leader") { $0.leader },
        .string("join-token-file") { $0.joinTokenFile },
        .string("join-token", secret: true) { $0.joinToken },
        .string("name") { $0.name },
        .string("docker-host") { $0.dockerHost },
        .string("advertise") { $0.advertise },
        .string("max-download-rate", check: SettingCheck.rate) { $0.maxDownloadRate },
        .flag("insecure-mesh") { $0.insecureMesh },
        .string("containerd-hosts-dir") { $0.containerdHostsDirectory },
        .list("insecure-registry") { $0.insecureRegistries },
        .string("default-registry", check: SettingCheck.registry) { $0.defaultRegistry },
        .string("handoff", check: SettingCheck.oneOf(FollowerConfiguration.Handoff.allCases.map(\.rawValue))) { $0.handoff },
        .integer("local-registry-port", check: SettingCheck.port) { $0.localRegistryPort },
    ]
}

extension ProxyServeCommand {
    /// Every key of `ferry proxy serve`'s configuration, in the order `--print-config` shows them.
    static let settings: [DaemonSetting<ProxyServeCommand>] = [
        .string("data-dir") { $0.dataDirectory },
        .string("listen", check: SettingCheck.listen) { $0.listen },
        .string("tls-cert") { $0.tlsCert },
        .string("tls-key") { $0.tlsKey },
        .string("upstream-auth") { $0.upstreamAuth },
        .list("insecure-registry") { $0.insecureRegistries },
        .string("ca-file") { $0.caFile },
        .integer("tag-ttl", check: SettingCheck.notNegative) { $0.tagTTL },
        .flag("no-cache") { $0.noCache },
        .string("public-url") { $0.publicURL },
        .integer("max-streams", check: SettingCheck.positive) { $0.maxStreams },
        .integer("max-stream-wait", check: SettingCheck.notNegative) { $0.maxStreamWait },
        .string("database", secret: true, check: SettingCheck.database) { $0.database },
    ] + ServiceOptions.settings.map { setting in setting.lifted { $0.service } }
}
