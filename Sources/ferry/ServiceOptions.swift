import ArgumentParser
import FerryConfig
import FerryCore

/// The options every long-running command shares (`ferry leader`, `ferry follower`, `ferry proxy
/// serve`): its configuration file, `--print-config` and logging.
struct ServiceOptions: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "A TOML file of settings: each key is a long option's name, e.g. log-level = \"notice\". Options and FERRY_* variables override it. Or set FERRY_CONFIG.",
            valueName: "file"))
    var config: String?

    @Flag(name: .customLong("print-config"), help: "Print the effective configuration (TOML, secrets redacted) and exit.")
    var printConfig = false

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning or error.")
    var logLevel: LogLevelOption = .info

    @Option(name: .customLong("log-format"), help: "text, or json: one JSON object per line with its metadata, for log shippers.")
    var logFormat: LogFormatOption = .text

    /// Checks every value of `command` (flags included: the file's and the environment's were
    /// checked as they were read), so that a bad one is refused naming its flag before anything
    /// starts, then those that must agree (``DaemonCommand/checkCombinations()``); then, with `--print-config`, prints the effective configuration and returns true
    /// (the command then ends); else false.
    func printedConfiguration<Command: DaemonCommand>(of command: Command, settings: [DaemonSetting<Command>]) throws(FerryError) -> Bool {
        for setting in settings {
            if let value = setting.value(command) { try setting.option.validate(value) }
        }
        try command.checkCombinations()
        guard printConfig else { return false }
        FileOutput.standardOutput.write(DaemonConfiguration.render(command, settings: settings))
        return true
    }

    /// Starts logging as `--log-level` and `--log-format` ask.
    func bootstrap() {
        bootstrapLogging(level: logLevel, format: logFormat)
    }
}
