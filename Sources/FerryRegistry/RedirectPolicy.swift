import FerryCore
import Foundation

extension FerryError.Code {
    /// An upstream redirect Ferry does not follow (see ``RedirectPolicy``). Permanent.
    public static let redirectRefused = FerryError.Code("REDIRECT_REFUSED")
}

/// Where the upstream client follows a registry's redirects (blob downloads are redirected to
/// object storage or a CDN). A pure decision, made once per hop:
///
/// * at most ``maximumHops`` redirects per request;
/// * `https` to any host, `http` only to the registry's own scheme, host and port, or — when the
///   registry itself is plain HTTP — to a host the configuration allows plain HTTP to
///   (no downgrade from `https`);
/// * never to a special address (loopback, link-local with the cloud metadata services,
///   unspecified, multicast…; ``HostAddress/isSpecial``), checked on the literal and on every
///   address the name resolves to, unless the registry itself is at that address (or both are
///   loopback).
struct RedirectPolicy: Sendable {
    /// Redirects followed per request.
    static let maximumHops = 5

    /// The scheme, host and port of a URL, default ports filled in.
    struct Origin: Hashable, Sendable, CustomStringConvertible {
        var scheme: String
        var host: String
        var port: Int

        init?(_ url: URL) {
            guard let scheme = url.scheme?.lowercased(), var host = url.host?.lowercased(), !host.isEmpty else { return nil }
            if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
            self.scheme = scheme
            self.host = host
            self.port = url.port ?? (scheme == "https" ? 443 : 80)
        }

        /// `host:port`, IPv6 literals in brackets: what error messages name (never the path or query).
        var description: String { (host.contains(":") ? "[\(host)]" : host) + ":\(port)" }
    }

    /// Why a redirect is not followed.
    enum Refusal: Error, Hashable, Sendable {
        case tooManyHops
        case unusable
        case scheme(String)
        case plainHTTP
        case userInfo
        case specialAddress(HostAddress)
        case unresolved

        /// The reason, worded for an operator.
        var reason: String {
            switch self {
            case .tooManyHops: "more than \(RedirectPolicy.maximumHops) redirects"
            case .unusable: "the Location is not a usable URL"
            case .scheme(let scheme): "the scheme \(scheme) is not allowed (only https, or the registry's own)"
            case .plainHTTP: "plain HTTP to another host is not allowed (only https, or the registry's own scheme, host and port)"
            case .userInfo: "the URL carries credentials"
            case .specialAddress(let address):
                "it is a \(address.isLoopback ? "loopback" : "link-local or other special") address (\(address)), where the registry itself is not"
            case .unresolved: "its name could not be resolved"
            }
        }
    }

    /// The first request's origin: the registry.
    var registry: Origin
    /// Whether the configuration allows plain HTTP to a `host[:port]`.
    var allowsPlainHTTP: @Sendable (String) -> Bool

    /// Checks hop number `hop` (from 1) to `target`, before any name is resolved; returns its origin.
    func check(_ target: URL, hop: Int) -> Result<Origin, Refusal> {
        guard hop <= Self.maximumHops else { return .failure(.tooManyHops) }
        guard let origin = Origin(target) else { return .failure(.unusable) }
        guard target.user == nil, target.password == nil else { return .failure(.userInfo) }
        switch origin.scheme {
        case "https":
            return .success(origin)
        case "http":
            if origin == registry { return .success(origin) }
            let plain = registry.scheme == "http" && (allowsPlainHTTP(origin.description) || allowsPlainHTTP(origin.host) || allowsPlainHTTP("\(origin.host):\(origin.port)"))
            return plain ? .success(origin) : .failure(.plainHTTP)
        default:
            return .failure(.scheme(origin.scheme))
        }
    }

    /// Checks the addresses a target resolved to against those of the registry: the first address
    /// refused, or nil when all may be reached.
    static func refusedAddress(_ target: [HostAddress], registry: [HostAddress]) -> HostAddress? {
        target.first { !$0.isAllowed(forRegistryAt: registry) }
    }
}
