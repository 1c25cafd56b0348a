import FerryCore

/// One daemon setting that a configuration file, a `FERRY_*` variable and a command-line flag can
/// each give. The key is the long flag's name without the dashes (`listen` for `--listen`), and the
/// variable is `FERRY_` and the key in capitals with `_` for `-` (`FERRY_MAX_UPLOAD_RATE`).
public struct ConfigOption: Sendable {
    /// What a value looks like.
    public enum Kind: Sendable, Equatable {
        /// A string: `key = "text"`.
        case string
        /// A whole number: `key = 75`.
        case integer
        /// A switch: `key = true`; a flag on the command line.
        case flag
        /// A list of strings for a repeatable option: `key = ["a", "b"]`.
        case list
    }

    public var key: String
    public var kind: Kind
    /// A token or password: `--print-config` shows it redacted.
    public var secret: Bool
    /// Refuses a bad value with a message naming the problem (the caller adds where it came from).
    public var check: (@Sendable (String) throws(FerryError) -> Void)?

    public init(
        _ key: String, _ kind: Kind, secret: Bool = false, check: (@Sendable (String) throws(FerryError) -> Void)? = nil
    ) {
        self.key = key
        self.kind = kind
        self.secret = secret
        self.check = check
    }

    /// `--key`.
    public var flag: String { "--\(key)" }

    /// Runs ``check`` on each text of `value` (as given by a flag): a bad one is refused naming the flag.
    public func validate(_ value: ConfigValue) throws(FerryError) {
        do {
            try ConfigMerge.check(value, self)
        } catch {
            // Some checks name the flag themselves ("invalid --listen 'x'").
            throw FerryError(.configuration, error.message.contains(flag) ? error.message : "invalid \(flag): \(error.message)")
        }
    }

    /// `FERRY_KEY`.
    public var environmentVariable: String {
        "FERRY_" + String(key.uppercased().map { $0 == "-" ? "_" : $0 })
    }
}

/// A value of a ``ConfigOption``.
public enum ConfigValue: Sendable, Equatable {
    case string(String)
    case integer(Int)
    case flag(Bool)
    case list([String])

    /// The value as command-line arguments for `option`: `--key=value`, `--key` for a set flag,
    /// one `--key=item` per list item.
    func arguments(for option: ConfigOption) -> [String] {
        switch self {
        case .string(let text): ["\(option.flag)=\(text)"]
        case .integer(let number): ["\(option.flag)=\(number)"]
        case .flag(let on): on ? [option.flag] : []
        case .list(let items): items.map { "\(option.flag)=\($0)" }
        }
    }

    /// The texts a check sees.
    public var texts: [String] {
        switch self {
        case .string(let text): [text]
        case .integer(let number): [String(number)]
        case .flag(let on): [String(on)]
        case .list(let items): items
        }
    }
}
