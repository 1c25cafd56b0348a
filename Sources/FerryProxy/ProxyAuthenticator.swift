import Crypto
import FerryCore
import FerryFormats
import Foundation
import HTTPTypes
import Hummingbird

/// Who is asking: a licence, by HTTP Basic (licence ID as password) or a token the proxy issued.
struct ProxyCaller: Sendable {
    var licence: Licence
    /// The repositories a bearer token was issued for; nil for Basic (every check made per request).
    var tokenRepositories: Set<String>?
}

/// Reads the credentials of a request. Unknown licences and bad tokens are `401`; a known licence
/// that is revoked or expired is `403 DENIED` saying which.
struct ProxyAuthenticator: Sendable {
    let database: any ProxyStore
    let key: SymmetricKey
    let configuration: ProxyConfiguration

    /// The `WWW-Authenticate` challenge for a request, with the scope of `repository` if given.
    func challenge(_ request: Request, repository: ProxyRepository?, error: String? = nil) -> String {
        var value = #"Bearer realm="\#(realm(request))",service="\#(configuration.service)""#
        if let repository { value += #",scope="repository:\#(repository):pull""# }
        if let error { value += #",error="\#(error)""# }
        return value
    }

    /// Whether `request` carries `adminToken` as its Bearer credential (compared in constant time):
    /// the management API, `/metrics`, and any route's "credentials first" check.
    static func presentsAdminToken(_ request: Request, _ adminToken: String) -> Bool {
        guard let header = request.headers[.authorization], let token = BearerAuthorization.token(header) else { return false }
        return constantTimeEqual(String(token), adminToken)
    }

    /// The token endpoint's URL: `--public-url`'s, else the request's own host (`Host`), over
    /// TLS when the proxy serves TLS or a TLS-terminating reverse proxy in front says so
    /// (`X-Forwarded-Proto: https`; it affects only the challenge of the request that carries it).
    func realm(_ request: Request) -> String {
        if let base = configuration.publicURL { return base + "/token" }
        let authority = request.head.authority.flatMap { host in
            host.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || ".-_:[]".contains($0)) } ? host : nil
        } ?? "localhost"
        // The first value: the scheme the client used, before any proxies of its own.
        let forwardedTLS = request.headers[HTTPField.Name("X-Forwarded-Proto")!].map {
            $0.split(separator: ",").first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() == "https" } ?? false
        } ?? false
        return (configuration.tls || forwardedTLS ? "https://" : "http://") + authority + "/token"
    }

    /// A `401` with the Bearer challenge; `refused` names why presented credentials were refused.
    func unauthorized(_ request: Request, repository: ProxyRepository?, _ message: String, error: String? = nil, refused: String? = nil) -> ProxyError {
        ProxyError(
            FerryError(.unauthorized, message), challenge: challenge(request, repository: repository, error: error),
            refused: refused.map { ProxyError.Refusal(reason: $0) })
    }

    /// The `403` for a known licence that is revoked or expired, or nil while it is valid.
    static func refusal(of licence: Licence, now: Date) -> ProxyError? {
        LicencePolicy.refusal(of: licence, now: now).map { error in
            ProxyError(error, refused: .init(reason: licence.revokedAt != nil ? "revoked" : "expired", licence: licence.id, app: licence.app))
        }
    }

    /// The caller, or a 401 (no or wrong credentials) / 403 (revoked, expired).
    func caller(_ request: Request, repository: ProxyRepository?, now: Date = Date()) async throws -> ProxyCaller {
        guard let header = request.headers[.authorization] else {
            throw unauthorized(request, repository: repository, "authentication required: log in with the licence ID as the password")
        }
        if let password = Self.basicPassword(header) {
            return ProxyCaller(licence: try await licence(password: password, request: request, repository: repository, now: now), tokenRepositories: nil)
        }
        if let bearer = BearerAuthorization.token(header) {
            switch ProxyToken.verify(bearer, key: key, now: now) {
            case .success(let token):
                guard let licence = try await database.licence(id: token.licence) else {
                    throw unauthorized(request, repository: repository, "this token's licence is unknown", error: "invalid_token", refused: "invalid-token")
                }
                if let refusal = Self.refusal(of: licence, now: now) { throw refusal }
                return ProxyCaller(licence: licence, tokenRepositories: Set(token.repositories))
            case .failure(.expired):
                throw unauthorized(request, repository: repository, "the token has expired", error: "invalid_token", refused: "expired-token")
            case .failure:
                throw unauthorized(request, repository: repository, "the token is not valid", error: "invalid_token", refused: "invalid-token")
            }
        }
        throw unauthorized(
            request, repository: repository, "unsupported authentication: use Basic with the licence ID as the password", refused: "unsupported-scheme")
    }

    /// The licence a password names, checked valid now.
    func licence(password: String, request: Request, repository: ProxyRepository?, now: Date) async throws -> Licence {
        guard let id = LicenceID(password), let licence = try await database.licence(hash: id.hash) else {
            throw unauthorized(request, repository: repository, "the licence ID is not valid", refused: "unknown-licence")
        }
        if let refusal = Self.refusal(of: licence, now: now) { throw refusal }
        return licence
    }

    /// The password of an `Authorization: Basic` value (any user name).
    static func basicPassword(_ header: String) -> String? { BasicAuthorization(header: header)?.password }

    /// Compares two secrets in time independent of where they differ.
    static func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        guard x.count == y.count else { return false }
        return zip(x, y).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0
    }
}
