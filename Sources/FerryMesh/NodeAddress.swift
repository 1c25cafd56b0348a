import FerryCore
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Where a node is reached on the mesh: exactly `https://host:port` (or `http://host:port` on a
/// plain-HTTP mesh), nothing else — no path, query, fragment or user info, no other scheme.
///
/// The host is a DNS name or an IP literal (IPv6 in brackets). Nodes advertise one at join and in
/// heartbeats; the leader refuses any other string, and followers build every peer URL from one,
/// so a node cannot make others send requests (and peer tokens) to arbitrary URLs.
public struct NodeAddress: Sendable, Hashable, CustomStringConvertible {
    public enum Scheme: String, Sendable, Hashable {
        case https
        case http
    }

    public let scheme: Scheme
    /// A lowercase DNS name, or an IP literal without brackets.
    public let host: String
    public let port: Int

    /// The DNS name in the leader's certificate and in no node's: clients of the leader require
    /// it (and connect to the leader's real host under it), so no node certificate passes for
    /// the leader's.
    public static let leaderName = "leader.ferry.invalid"

    /// Parses `text`; `http://` is accepted only when `allowPlainHTTP` (a mesh running with
    /// `--insecure-mesh`).
    public init(parsing text: String, allowPlainHTTP: Bool = false) throws(FerryError) {
        let shown = String(text.prefix(120))
        func refuse(_ why: String) -> FerryError {
            FerryError(.invalidArgument, "invalid node address '\(shown)': \(why); expected https://HOST:PORT")
        }
        guard text.utf8.count <= 300 else { throw refuse("too long") }
        let rest: Substring
        if text.hasPrefix("https://") {
            scheme = .https
            rest = text.dropFirst("https://".count)
        } else if text.hasPrefix("http://") {
            guard allowPlainHTTP else { throw refuse("plain HTTP is allowed only on a mesh running with --insecure-mesh") }
            scheme = .http
            rest = text.dropFirst("http://".count)
        } else {
            throw refuse("the scheme must be https")
        }
        guard !rest.contains(where: { "/?#@\\%".contains($0) || $0.isWhitespace || !$0.isASCII || $0.asciiValue! < 0x20 }) else {
            throw refuse("no path, query, fragment or user info is allowed")
        }
        let hostPart: Substring
        let portPart: Substring
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]") else { throw refuse("unclosed '['") }
            hostPart = rest[rest.index(after: rest.startIndex)..<close]
            let after = rest[rest.index(after: close)...]
            guard after.hasPrefix(":") else { throw refuse("a port is required") }
            portPart = after.dropFirst()
            guard Self.ipv6(String(hostPart)) else { throw refuse("'[\(hostPart)]' is not an IPv6 address") }
            host = String(hostPart).lowercased()
        } else {
            guard let colon = rest.lastIndex(of: ":") else { throw refuse("a port is required") }
            hostPart = rest[..<colon]
            portPart = rest[rest.index(after: colon)...]
            guard !hostPart.contains(":") else { throw refuse("an IPv6 address must be in brackets") }
            let candidate = String(hostPart).lowercased()
            guard Self.ipv4(candidate) || Self.isDNSName(candidate) else { throw refuse("'\(hostPart)' is not a host name or IP address") }
            host = candidate
        }
        guard host != Self.leaderName, !host.hasSuffix(".ferry.invalid") else { throw refuse("'\(host)' is reserved for the leader") }
        guard !portPart.isEmpty, portPart.count <= 5, portPart.allSatisfy({ $0.isASCII && $0.isNumber }), let port = Int(portPart),
            (1...65535).contains(port)
        else { throw refuse("the port must be a number from 1 to 65535") }
        self.port = port
    }

    /// The leader's URL as an operator writes it: a trailing `/` and a missing port (443, or 80
    /// for `http://`) are allowed; nothing else beyond ``init(parsing:allowPlainHTTP:)``.
    public init(leaderURL text: String, allowPlainHTTP: Bool = true) throws(FerryError) {
        var url = text.hasSuffix("/") ? String(text.dropLast()) : text
        if let start = url.range(of: "://")?.upperBound {
            let authority = url[start...]
            let hasPort = authority.hasPrefix("[") ? authority.contains("]:") : authority.contains(":")
            if !hasPort { url += url.hasPrefix("https://") ? ":443" : ":80" }
        }
        let parsed: NodeAddress
        do {
            parsed = try NodeAddress(parsing: url, allowPlainHTTP: allowPlainHTTP)
        } catch {
            // Not echoed when it holds user info: that may be a password.
            throw FerryError(.configuration, "invalid leader URL\(text.contains("@") ? "" : " '\(text.prefix(120))'"): expected https://HOST:PORT")
        }
        self = parsed
    }

    /// `scheme://host:port`, IPv6 hosts in brackets: the base of every URL built from it.
    public var description: String { "\(scheme.rawValue)://\(authority)" }

    /// `host:port`, IPv6 hosts in brackets.
    public var authority: String { "\(isIPv6 ? "[\(host)]" : host):\(port)" }

    /// Whether the host is an IP literal (else a DNS name).
    public var isIPLiteral: Bool { Self.ipv4(host) || Self.ipv6(host) }

    var isIPv6: Bool { Self.ipv6(host) }

    /// The URL of the blob route for `digest` in `repository` on this node.
    public func blobURL(repository: String, digest: Digest) -> String {
        "\(self)\(Self.blobPath(repository: repository, digest: digest))"
    }

    /// `/v2/<repository>/blobs/<digest>`: the only path followers fetch blobs at.
    public static func blobPath(repository: String, digest: Digest) -> String {
        "/v2/\(repository)/blobs/\(digest)"
    }

    static func ipv4(_ text: String) -> Bool {
        var address = in_addr()
        return inet_pton(AF_INET, text, &address) == 1
    }

    static func ipv6(_ text: String) -> Bool {
        var address = in6_addr()
        return inet_pton(AF_INET6, text, &address) == 1
    }

    /// A DNS name: dot-separated labels of letters, digits and inner hyphens, 1–63 each, at most
    /// 253 in all; not all digits and dots (what resolvers may read as a shortened IPv4 address).
    static func isDNSName(_ text: String) -> Bool {
        guard !text.isEmpty, text.utf8.count <= 253 else { return false }
        let labels = text.split(separator: ".", omittingEmptySubsequences: false)
        for label in labels {
            guard (1...63).contains(label.count), label.first != "-", label.last != "-",
                label.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") })
            else { return false }
        }
        let last = labels.last!
        return !last.allSatisfy(\.isNumber) && !(last.hasPrefix("0x") && last.dropFirst(2).allSatisfy(\.isHexDigit))
    }
}
