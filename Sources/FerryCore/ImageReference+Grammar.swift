extension ImageReference {
    /// Whether `tag` matches `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`.
    public static func isValidTag(_ tag: some StringProtocol) -> Bool {
        let bytes = Array(tag.utf8)
        guard let first = bytes.first, bytes.count <= 128 else { return false }
        guard isAlphaNumeric(first) || first == UInt8(ascii: "_") else { return false }
        return bytes.dropFirst().allSatisfy {
            isAlphaNumeric($0) || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "-")
        }
    }

    /// Whether `name` is a repository path: components of `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`
    /// joined by `/`, at most 255 bytes.
    public static func isValidRepository(_ name: some StringProtocol) -> Bool {
        guard !name.isEmpty, name.utf8.count <= 255 else { return false }
        return String(name).split(separator: "/", omittingEmptySubsequences: false).allSatisfy { isValidPathComponent($0) }
    }

    static func isValidPathComponent(_ component: Substring) -> Bool {
        let bytes = Array(component.utf8)
        guard let first = bytes.first, let last = bytes.last, isLowerAlphaNumeric(first), isLowerAlphaNumeric(last) else {
            return false
        }
        var index = 0
        while index < bytes.count {
            if isLowerAlphaNumeric(bytes[index]) {
                index += 1
                continue
            }
            // A separator: '.', '_', '__', or one or more '-'.
            let start = index
            switch bytes[index] {
            case UInt8(ascii: "."):
                index += 1
            case UInt8(ascii: "_"):
                index += 1
                if index < bytes.count && bytes[index] == UInt8(ascii: "_") { index += 1 }
            case UInt8(ascii: "-"):
                while index < bytes.count && bytes[index] == UInt8(ascii: "-") { index += 1 }
            default:
                return false
            }
            guard index > start, index < bytes.count, isLowerAlphaNumeric(bytes[index]) else { return false }
        }
        return true
    }

    /// Whether `host` is a registry host as a reference names it: `host[:port]`, with host a DNS
    /// name, IPv4 address, or bracketed IPv6 address (`registry.example.com`, `127.0.0.1:5000`).
    public static func isValidRegistry(_ host: String) -> Bool { isValidDomain(Substring(host)) }

    /// Whether `domain` is `host[:port]` with host a DNS name, IPv4 address, or bracketed IPv6 address.
    static func isValidDomain(_ domain: Substring) -> Bool {
        var host = domain
        if domain.hasPrefix("[") {
            guard let close = domain.firstIndex(of: "]") else { return false }
            let inner = domain[domain.index(after: domain.startIndex)..<close]
            guard !inner.isEmpty, inner.allSatisfy({ $0.isHexDigit || $0 == ":" || $0 == "." }) else { return false }
            let rest = domain[domain.index(after: close)...]
            if rest.isEmpty { return true }
            guard rest.first == ":" else { return false }
            return isValidPort(rest.dropFirst())
        }
        if let colon = domain.firstIndex(of: ":") {
            guard isValidPort(domain[domain.index(after: colon)...]) else { return false }
            host = domain[..<colon]
        }
        guard !host.isEmpty, host.utf8.count <= 253 else { return false }
        return host.split(separator: ".", omittingEmptySubsequences: false).allSatisfy { label in
            let bytes = Array(label.utf8)
            guard let first = bytes.first, let last = bytes.last, bytes.count <= 63 else { return false }
            return isAlphaNumeric(first) && isAlphaNumeric(last)
                && bytes.allSatisfy { isAlphaNumeric($0) || $0 == UInt8(ascii: "-") }
        }
    }

    static func isValidPort(_ port: Substring) -> Bool {
        guard !port.isEmpty, port.count <= 5, port.allSatisfy(\.isASCII), let value = Int(port) else { return false }
        return value > 0 && value <= 65535
    }

    private static func isLowerAlphaNumeric(_ byte: UInt8) -> Bool {
        (byte >= 0x61 && byte <= 0x7a) || (byte >= 0x30 && byte <= 0x39)
    }

    private static func isAlphaNumeric(_ byte: UInt8) -> Bool {
        isLowerAlphaNumeric(byte) || (byte >= 0x41 && byte <= 0x5a)
    }
}
