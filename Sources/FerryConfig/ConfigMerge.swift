import FerryCore

/// Merges the sources of a daemon's settings into one command line, so that the command parses
/// every setting the same way: flags > `FERRY_*` environment > configuration file > defaults.
public enum ConfigMerge {
    /// `commandLine` (the arguments after the subcommand) preceded by `--key=value` for each option
    /// the command line does not give, from the environment, else from the file. A repeatable option
    /// given on the command line replaces the lower sources' lists rather than adding to them.
    public static func arguments(
        commandLine: [String], environment: [String: ConfigValue], file: [String: ConfigValue], options: [ConfigOption]
    ) -> [String] {
        var merged: [String] = []
        for option in options where !givesOption(commandLine, option) {
            if let value = environment[option.key] ?? file[option.key] {
                merged += value.arguments(for: option)
            }
        }
        return merged + commandLine
    }

    /// Whether `arguments` give `option` (`--key`, `--key VALUE` or `--key=VALUE`), before any `--`.
    public static func givesOption(_ arguments: [String], _ option: ConfigOption) -> Bool {
        for argument in arguments {
            if argument == "--" { return false }
            if argument == option.flag || argument.hasPrefix(option.flag + "=") { return true }
        }
        return false
    }

    /// The value of `--key FILE` or `--key=FILE` in `arguments`, if any (the last one wins).
    public static func value(of flag: String, in arguments: [String]) -> String? {
        var found: String?
        var index = arguments.startIndex
        while index < arguments.endIndex {
            let argument = arguments[index]
            if argument == "--" { break }
            if argument == flag, index + 1 < arguments.endIndex {
                found = arguments[index + 1]
                index += 1
            } else if argument.hasPrefix(flag + "=") {
                found = String(argument.dropFirst(flag.count + 1))
            }
            index += 1
        }
        return found
    }

    /// Runs the option's check on each text of `value`.
    static func check(_ value: ConfigValue, _ option: ConfigOption) throws(FerryError) {
        guard let check = option.check else { return }
        for text in value.texts { try check(text) }
    }
}
