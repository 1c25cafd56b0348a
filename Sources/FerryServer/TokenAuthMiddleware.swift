import FerryCore
import FerryFormats
import FerryMesh
import Foundation
import Hummingbird
import NIOCore

/// Decides who a bearer of a token is.
public protocol CredentialVerifier: Sendable {
    func principal(forToken token: String) async -> Principal?
}

/// Checks a fixed admin token (the leader's `admin-token` file).
public struct AdminTokenVerifier: CredentialVerifier {
    private let adminToken: String
    public init(adminToken: String) { self.adminToken = adminToken }

    public func principal(forToken token: String) async -> Principal? {
        constantTimeEquals(token, adminToken) ? Principal(.admin) : nil
    }
}

/// Compares two secrets in time independent of where they differ.
public func constantTimeEquals(_ a: String, _ b: String) -> Bool {
    let x = Array(a.utf8)
    let y = Array(b.utf8)
    var difference = UInt8(x.count == y.count ? 0 : 1)
    for index in 0..<max(x.count, y.count) {
        difference |= (index < x.count ? x[index] : 0) ^ (index < y.count ? y[index] : 0)
    }
    return difference == 0
}

/// Requires credentials on every route but `/healthz`: `Authorization: Bearer TOKEN`, or HTTP
/// Basic with the token as the password (any user name), so `docker login` and
/// `skopeo --creds` work. Anything else gets 401 `UNAUTHORIZED` with a Basic challenge.
public struct TokenAuthMiddleware: RouterMiddleware {
    public typealias Context = FerryRequestContext
    let verifier: any CredentialVerifier
    let openPaths: Set<String>
    /// Certificates revoked by the leader: a client presenting one is refused whatever it sends.
    let revocations: CertificateRevocations?

    public init(verifier: any CredentialVerifier, openPaths: Set<String> = ["/healthz"], revocations: CertificateRevocations? = nil) {
        self.verifier = verifier
        self.openPaths = openPaths
        self.revocations = revocations
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if openPaths.contains(request.uri.path) { return try await next(request, context) }
        if let revocations, !revocations.isEmpty, let channel = context.channel,
            case .verified(let certificate) = await MeshTLS.clientCertificate(of: channel), revocations.isRevoked(certificate)
        {
            throw FerryError(.unauthorized, "this TLS client certificate has been revoked (its node was removed or given a new one): join again with a join token")
        }
        guard let token = Self.token(from: request.headers[.authorization]), let principal = await verifier.principal(forToken: token) else {
            throw FerryError(.unauthorized, MeshAPI.authenticationRequired)
        }
        if case .peer(let node, _) = principal.role, let channel = context.channel {
            try await Self.checkBinding(of: node, on: channel)
        }
        var context = context
        context.principal = principal
        return try await next(request, context)
    }

    /// A peer token is good only in the hands of the node it was issued to: over TLS, the client
    /// certificate must be that node's (issued by the cluster CA). A plain-HTTP mesh has no
    /// certificates, so there the token alone counts.
    static func checkBinding(of node: String, on channel: any Channel) async throws {
        switch await MeshTLS.clientCertificate(of: channel) {
        case .plainHTTP:
            return
        case .none:
            throw FerryError(.unauthorized, "a peer token must come with the TLS client certificate of the node it was issued to")
        case .verified(let certificate):
            guard MeshTLS.isCertificate(certificate, ofNode: node) else {
                throw FerryError(.unauthorized, "this peer token was issued to another node than the TLS client certificate names")
            }
        }
    }

    static func token(from header: String?) -> String? {
        guard let header else { return nil }
        if let bearer = BearerAuthorization.token(header) { return String(bearer).trimmingWhitespace() }
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2 else { return nil }
        switch parts[0].lowercased() {
        case "basic":
            guard let data = Data(base64Encoded: String(parts[1]).trimmingWhitespace()),
                let decoded = String(data: data, encoding: .utf8), let colon = decoded.firstIndex(of: ":")
            else { return nil }
            return String(decoded[decoded.index(after: colon)...])
        default:
            return nil
        }
    }
}
