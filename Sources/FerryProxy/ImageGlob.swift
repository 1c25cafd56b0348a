import FerryFormats
/// A pattern over `<registry>/<repository>` names: `*` matches within one path component,
/// `**` across components, anything else itself. `vendor/team/*` allows `vendor/team/app` but
/// not `vendor/team/app/debug`; `**` allows everything.
public struct ImageGlob: Sendable, Hashable, Codable, CustomStringConvertible {
    public let pattern: String

    public init(_ pattern: String) throws(GlobError) {
        guard !pattern.isEmpty, pattern.utf8.count <= 255,
            pattern.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "/._-*".contains($0)) })
        else { throw GlobError(pattern: pattern) }
        self.pattern = pattern
    }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        try self.init(text)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(pattern)
    }

    public var description: String { pattern }

    /// Whether `name` matches the whole pattern.
    public func matches(_ name: some StringProtocol) -> Bool {
        Self.match(Array(pattern.utf8)[...], Array(name.utf8)[...])
    }

    private static let star = UInt8(ascii: "*")
    private static let slash = UInt8(ascii: "/")

    private static func match(_ pattern: ArraySlice<UInt8>, _ name: ArraySlice<UInt8>) -> Bool {
        guard let first = pattern.first else { return name.isEmpty }
        if first == star {
            let doubled = pattern.dropFirst().first == star
            let rest = doubled ? pattern.dropFirst(2) : pattern.dropFirst()
            var index = name.startIndex
            while true {
                if match(rest, name[index...]) { return true }
                guard index < name.endIndex, doubled || name[index] != slash else { return false }
                index += 1
            }
        }
        guard let character = name.first, character == first else { return false }
        return match(pattern.dropFirst(), name.dropFirst())
    }
}

/// A glob with characters outside `[A-Za-z0-9/._-*]`.
public struct GlobError: Error, Sendable, CustomStringConvertible {
    public var pattern: String
    public var description: String {
        "invalid image glob '\(pattern.prefix(100))': use letters, digits, '/', '.', '_', '-', '*' and '**'"
    }
}
