import FerryCore

/// The `FERRY_*` variables that set daemon options. An empty variable counts as unset.
public enum ConfigEnvironment {
    /// The values the environment gives for `options`; a bad one is refused naming the variable.
    public static func values(
        _ environment: [String: String], options: [ConfigOption]
    ) throws(FerryError) -> [String: ConfigValue] {
        var values: [String: ConfigValue] = [:]
        for option in options {
            guard let text = environment[option.environmentVariable], !text.isEmpty else { continue }
            let value: ConfigValue
            switch option.kind {
            case .string:
                value = .string(text)
            case .integer:
                guard let number = Int(text) else {
                    throw FerryError(.configuration, "invalid \(option.environmentVariable)=\(text): expected a whole number")
                }
                value = .integer(number)
            case .flag:
                switch text.lowercased() {
                case "1", "true", "yes", "on": value = .flag(true)
                case "0", "false", "no", "off": value = .flag(false)
                default: throw FerryError(.configuration, "invalid \(option.environmentVariable)=\(text): expected true or false (or 1/0, yes/no, on/off)")
                }
            case .list:
                value = .list(text.split(separator: ",").map { String($0).trimmingSpaces }.filter { !$0.isEmpty })
            }
            do {
                try ConfigMerge.check(value, option)
            } catch {
                throw FerryError(.configuration, "invalid \(option.environmentVariable): \(error.message)")
            }
            values[option.key] = value
        }
        return values
    }
}

extension String {
    var trimmingSpaces: String {
        String(drop(while: { $0 == " " || $0 == "\t" }).reversed().drop(while: { $0 == " " || $0 == "\t" }).reversed())
    }
}
