import FerryConfig
import FerryCore
import Foundation

/// Applies `--config FILE` and the `FERRY_*` variables to a daemon's command line before it is
/// parsed: flags > environment > file > defaults (``ConfigMerge``).
enum DaemonConfiguration {
    /// The words naming the daemon `arguments` start with (`leader`, `follower`, `proxy serve`) and
    /// its options; nil if they name no daemon.
    static func daemon(_ arguments: [String]) -> (words: Int, options: [ConfigOption])? {
        switch arguments.first {
        case "leader": (1, LeaderCommand.settings.map(\.option))
        case "follower": (1, FollowerCommand.settings.map(\.option))
        case "proxy" where arguments.dropFirst().first == "serve": (2, ProxyServeCommand.settings.map(\.option))
        default: nil
        }
    }

    /// `arguments` (without the program name) with the file's and the environment's settings added.
    static func expand(_ arguments: [String], environment: [String: String]) throws(FerryError) -> [String] {
        guard let (words, options) = daemon(arguments) else { return arguments }
        let subcommand = Array(arguments.prefix(words))
        let commandLine = Array(arguments.dropFirst(words))
        // Help and version need no configuration (and must work with a broken one).
        if commandLine.contains(where: { ["--help", "-h", "--version", "--experimental-dump-help"].contains($0) }) { return arguments }
        var file: [String: ConfigValue] = [:]
        if let path = ConfigMerge.value(of: "--config", in: commandLine) ?? environment["FERRY_CONFIG"].flatMap({ $0.isEmpty ? nil : $0 }) {
            let text: String
            do {
                text = try String(contentsOfFile: path, encoding: .utf8)
            } catch {
                throw FerryError(.configuration, "cannot read configuration file \(path): \(error.localizedDescription)")
            }
            file = try ConfigFile.parse(text, path: path, options: options)
        }
        let fromEnvironment = try ConfigEnvironment.values(environment, options: options)
        return subcommand + ConfigMerge.arguments(commandLine: commandLine, environment: fromEnvironment, file: file, options: options)
    }

    /// `--print-config`: the effective settings of `command` as TOML, secrets redacted.
    static func render<Command>(_ command: Command, settings: [DaemonSetting<Command>]) -> String {
        ConfigRender.toml(settings.map { (option: $0.option, value: $0.value(command)) })
    }
}
