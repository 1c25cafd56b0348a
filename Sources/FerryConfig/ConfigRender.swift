import FerryCore
/// The effective configuration as TOML, for `--print-config`: every key in table order, a
/// secret as `"<redacted>"`, an unset optional key commented out.
public enum ConfigRender {
    public static func toml(_ entries: [(option: ConfigOption, value: ConfigValue?)]) -> String {
        var lines: [String] = []
        for (option, value) in entries {
            guard let value else {
                lines.append("# \(option.key): not set")
                continue
            }
            if option.secret {
                lines.append("\(option.key) = \"<redacted>\"")
                continue
            }
            lines.append("\(option.key) = \(literal(value))")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    static func literal(_ value: ConfigValue) -> String {
        switch value {
        case .string(let text): quoted(text)
        case .integer(let number): String(number)
        case .flag(let on): String(on)
        case .list(let items): "[" + items.map(quoted).joined(separator: ", ") + "]"
        }
    }

    /// A TOML basic string.
    static func quoted(_ text: String) -> String { QuotedString.literal(text) }
}
