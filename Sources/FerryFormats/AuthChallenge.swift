/// One challenge of a `WWW-Authenticate` header (RFC 9110 §11.6.1), e.g.
/// `Bearer realm="https://auth.example/token",service="registry",scope="repository:a/b:pull,push"`.
public struct AuthChallenge: Sendable, Hashable {
    /// The scheme, lowercased (`bearer`, `basic`).
    public var scheme: String
    /// Parameters with lowercased names; values unquoted and unescaped.
    public var parameters: [String: String]

    public init(scheme: String, parameters: [String: String] = [:]) {
        self.scheme = scheme.lowercased()
        self.parameters = parameters
    }

    public var realm: String? { parameters["realm"] }
    public var service: String? { parameters["service"] }
    public var scope: String? { parameters["scope"] }
    public var error: String? { parameters["error"] }

    /// Parses every challenge in a header value. Never fails: malformed parts are skipped.
    /// Quoted values may hold commas and `\"` escapes.
    public static func parse(_ header: String) -> [AuthChallenge] {
        var scanner = Scanner(Array(header.utf8))
        var challenges: [AuthChallenge] = []
        var current: AuthChallenge?
        while true {
            scanner.skip { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") || $0 == UInt8(ascii: ",") }
            guard let token = scanner.token() else {
                if scanner.atEnd { break }
                scanner.advance()  // an unexpected byte: skip it
                continue
            }
            scanner.skip { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }
            if scanner.peek == UInt8(ascii: "="), current != nil {
                scanner.advance()
                scanner.skip { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }
                let value = scanner.peek == UInt8(ascii: "\"") ? scanner.quoted() : (scanner.token68() ?? "")
                current?.parameters[token.lowercased()] = value
            } else if scanner.peek == UInt8(ascii: "=") {
                // A parameter before any scheme: malformed, skip its value.
                scanner.advance()
                _ = scanner.peek == UInt8(ascii: "\"") ? scanner.quoted() : scanner.token68()
            } else {
                if let current { challenges.append(current) }
                current = AuthChallenge(scheme: token)
                // token68 form (`Negotiate abc==`) is tolerated and ignored.
                if let peek = scanner.peek, peek != UInt8(ascii: ","), !scanner.looksLikeParameter() {
                    _ = scanner.token68()
                }
            }
        }
        if let current { challenges.append(current) }
        return challenges
    }
}

private struct Scanner {
    let bytes: [UInt8]
    var index = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var atEnd: Bool { index >= bytes.count }
    var peek: UInt8? { index < bytes.count ? bytes[index] : nil }

    mutating func advance() { index += 1 }

    mutating func skip(while predicate: (UInt8) -> Bool) {
        while let byte = peek, predicate(byte) { index += 1 }
    }

    static func isTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        default:
            return Array("!#$%&'*+-.^_`|~".utf8).contains(byte)
        }
    }

    mutating func token() -> String? {
        let start = index
        skip(while: Self.isTokenByte)
        return index > start ? String(decoding: bytes[start..<index], as: UTF8.self) : nil
    }

    mutating func token68() -> String? {
        let start = index
        skip { Self.isTokenByte($0) || $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: "=") || $0 == UInt8(ascii: ":") }
        return index > start ? String(decoding: bytes[start..<index], as: UTF8.self) : nil
    }

    /// Reads a quoted string starting at `"`; an unterminated one runs to the end.
    mutating func quoted() -> String {
        advance()
        var out: [UInt8] = []
        while let byte = peek {
            advance()
            if byte == UInt8(ascii: "\\"), let next = peek {
                out.append(next)
                advance()
            } else if byte == UInt8(ascii: "\"") {
                break
            } else {
                out.append(byte)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Whether the upcoming text is `token =`.
    func looksLikeParameter() -> Bool {
        var probe = self
        guard probe.token() != nil else { return false }
        probe.skip { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }
        return probe.peek == UInt8(ascii: "=")
    }
}
