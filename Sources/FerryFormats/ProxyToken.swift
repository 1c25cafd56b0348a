import Crypto
import FerryCore
import Foundation

/// A short-lived bearer token the proxy issues at `/token`: which licence, which repositories
/// (`repository:<name>:pull` scopes it granted), until when. HMAC-SHA256 signed with the proxy's
/// key: `base64url(claims).base64url(mac)`. The licence itself is checked again on every
/// request, so a revoke takes effect before the token expires.
public struct ProxyToken: Sendable, Hashable, Codable {
    /// The licence's row id (not its secret).
    public var licence: Int64
    /// Repository names (`proxy/<app>/<registry>/<repository>`) it may pull.
    public var repositories: [String]
    /// Expiry, seconds since 1970.
    public var exp: Int64
    /// When issued, seconds since 1970.
    public var iat: Int64

    public init(licence: Int64, repositories: [String], issuedAt: Date, lifetime: Duration) {
        self.licence = licence
        self.repositories = repositories
        self.iat = Int64(issuedAt.timeIntervalSince1970)
        self.exp = iat + lifetime.components.seconds
    }

    /// The signed token text.
    public func sign(key: SymmetricKey) -> String {
        let claims = Self.base64url((try? JSONEncoder().encode(self)) ?? Data())
        let mac = HMAC<SHA256>.authenticationCode(for: Data(claims.utf8), using: key)
        return claims + "." + Self.base64url(Data(mac))
    }

    /// Why a token is refused.
    public enum Problem: Error, Sendable, Hashable {
        case malformed
        case badSignature
        case expired
    }

    /// Verifies and decodes a token: signature first (constant time), then expiry.
    public static func verify(_ text: some StringProtocol, key: SymmetricKey, now: Date) -> Result<ProxyToken, Problem> {
        guard text.utf8.count < 16 * 1024 else { return .failure(.malformed) }
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2, let mac = decodeBase64url(parts[1]), let claims = decodeBase64url(parts[0]) else { return .failure(.malformed) }
        guard HMAC<SHA256>.isValidAuthenticationCode(mac, authenticating: Data(parts[0].utf8), using: key) else {
            return .failure(.badSignature)
        }
        guard let token = try? JSONDecoder().decode(ProxyToken.self, from: claims) else { return .failure(.malformed) }
        guard Int64(now.timeIntervalSince1970) < token.exp else { return .failure(.expired) }
        return .success(token)
    }

    static func base64url(_ data: Data) -> String {
        data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    static func decodeBase64url(_ text: some StringProtocol) -> Data? {
        guard text.utf8.allSatisfy({ $0 < 128 }) else { return nil }
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
        return Data(base64Encoded: base64)
    }
}

/// A token request's scopes: `repository:<name>:<actions>` entries, split at the last `:`.
/// Others (`registry:catalog:*`) and names that are not proxy repositories are ignored.
public enum TokenScope {
    /// The repository names that asked for `pull`.
    public static func pullRepositories(_ scopes: [String]) -> [ProxyRepository] {
        // Several scopes in one value are space-separated; a query string written by hand may
        // carry the spaces as `+` (form encoding), which no scope can contain otherwise.
        scopes.flatMap { $0.split(whereSeparator: { $0 == " " || $0 == "+" }) }.compactMap { scope -> ProxyRepository? in
            guard scope.hasPrefix("repository:") else { return nil }
            // The last `:` after the prefix: a scope without one (`repository:name`) has no actions.
            let rest = scope.dropFirst("repository:".count)
            guard let lastColon = rest.lastIndex(of: ":") else { return nil }
            let name = rest[..<lastColon]
            let actions = rest[rest.index(after: lastColon)...].split(separator: ",")
            guard actions.contains("pull") || actions.contains("*") else { return nil }
            return ProxyRepository(name: name)
        }
    }
}
