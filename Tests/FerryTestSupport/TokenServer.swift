import Crypto
import FerryCore
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Synchronization

/// A Docker registry token server for tests (distribution `docs/spec/auth/token.md`): issues
/// ES256 JWTs with the signing certificate in `x5c`, for one user and password.
///
/// Anonymous requests get a token with no access, as real token services do for private repos.
public final class TokenServer: Sendable {
    public let issuer: TokenIssuer
    private let server: BackgroundServer

    public var realm: String { "\(server.url)/token" }
    public var service: String { issuer.service }
    public var certificatePath: String { issuer.certificatePath }

    /// Every scope a token was issued for, in order, anonymous ones prefixed with `anonymous:`.
    public var issuedScopes: [String] { issuer.issued.withLock { $0 } }

    /// The registry's `auth.token` settings for this server.
    public var registryAuth: TestRegistry.Auth {
        .token(realm: realm, service: issuer.service, issuer: issuer.issuer, certificate: issuer.certificatePath)
    }

    /// Starts a token server; its key and certificate are written into `directory`.
    public static func start(in directory: String, user: String, password: String, lifetime: Int = 300) async throws -> TokenServer {
        let issuer = try await TokenIssuer(directory: directory, user: user, password: password, lifetime: lifetime)
        let router = Router()
        router.get("/token") { request, _ in try issuer.handle(request) }
        return TokenServer(issuer: issuer, server: try await BackgroundServer.start(router))
    }

    private init(issuer: TokenIssuer, server: BackgroundServer) {
        self.issuer = issuer
        self.server = server
    }

    public func stop() async { await server.stop() }
}

/// Signs the tokens of a ``TokenServer``.
public final class TokenIssuer: Sendable {
    public let service = "ferry-test-registry"
    public let issuer = "ferry-test-issuer"
    public let certificatePath: String
    public let user: String
    public let password: String
    private let key: P256.Signing.PrivateKey
    private let certificateDER: Data
    private let lifetime: Int
    let issued = Mutex<[String]>([])

    init(directory: String, user: String, password: String, lifetime: Int) async throws {
        self.user = user
        self.password = password
        self.lifetime = lifetime
        let keyPath = "\(directory)/token-key.pem"
        certificatePath = "\(directory)/token-cert.pem"
        try await runChecked("/usr/bin/openssl", ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", keyPath])
        try await runChecked("/usr/bin/openssl", ["req", "-x509", "-new", "-key", keyPath, "-subj", "/CN=ferry-test-token", "-days", "2", "-out", certificatePath])
        let derPath = "\(directory)/token-cert.der"
        try await runChecked("/usr/bin/openssl", ["x509", "-in", certificatePath, "-outform", "DER", "-out", derPath])
        key = try P256.Signing.PrivateKey(pemRepresentation: String(contentsOfFile: keyPath, encoding: .utf8))
        certificateDER = try Data(contentsOf: URL(fileURLWithPath: derPath))
    }

    func handle(_ request: Request) throws -> Response {
        var subject = ""
        if let header = request.headers[.authorization] {
            guard header.hasPrefix("Basic "), let data = Data(base64Encoded: String(header.dropFirst(6))),
                String(decoding: data, as: UTF8.self) == "\(user):\(password)"
            else {
                return Response(status: .unauthorized, body: .init(byteBuffer: ByteBuffer(string: #"{"details":"incorrect username or password"}"#)))
            }
            subject = user
        }
        let scope = request.uri.queryParameters.get("scope") ?? ""
        issued.withLock { $0.append(subject.isEmpty ? "anonymous:\(scope)" : scope) }
        var access: [[String: Any]] = []
        if !subject.isEmpty, scope.hasPrefix("repository:") {
            // repository:<name>:<actions> — the name may hold a host:port, so split from the end.
            let body = scope.dropFirst("repository:".count)
            if let colon = body.lastIndex(of: ":") {
                access.append(["type": "repository", "name": String(body[..<colon]), "actions": body[body.index(after: colon)...].split(separator: ",").map(String.init)])
            }
        }
        let now = Int(Date().timeIntervalSince1970)
        let header: [String: Any] = ["typ": "JWT", "alg": "ES256", "x5c": [certificateDER.base64EncodedString()]]
        let claims: [String: Any] = [
            "iss": issuer, "sub": subject, "aud": service, "exp": now + lifetime, "nbf": now - 10, "iat": now,
            "jti": UUID().uuidString, "access": access,
        ]
        let signingInput = try Self.base64URL(JSONSerialization.data(withJSONObject: header)) + "." + Self.base64URL(JSONSerialization.data(withJSONObject: claims))
        let signature = try key.signature(for: Data(signingInput.utf8)).rawRepresentation
        let token = signingInput + "." + Self.base64URL(signature)
        let body = try JSONSerialization.data(withJSONObject: ["token": token, "access_token": token, "expires_in": lifetime])
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }

    static func base64URL(_ data: Data) -> String {
        data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }
}
