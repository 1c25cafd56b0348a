import Crypto
import FerryCore
import FerryFormats
import FerryMesh
import FerryPolicy
import FerryServer
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import Metrics
import NIOCore

/// The proxy's pull-only registry API: `/v2/`, `/v2/_catalog`,
/// `/v2/proxy/<app>/<registry>/<repository>/{manifests,blobs,tags/list}`, and `/token`.
/// Writes answer `405 UNSUPPORTED` to a valid licence, `401` to anyone else.
public struct ProxyAPI: Sendable {
    let database: any ProxyStore
    let authenticator: ProxyAuthenticator
    let upstream: ProxyUpstream
    let configuration: ProxyConfiguration
    let streams: StreamCounter
    let limiters = LicenceLimiters()
    /// Cuts the blob streams still running when the proxy stops (``ProxyStopping``).
    let stopping = ProxyStopping()
    let authFailures: ProxyAuthFailures
    let logger: Logger

    init(database: any ProxyStore, key: SymmetricKey, upstream: ProxyUpstream, configuration: ProxyConfiguration, logger: Logger) {
        self.database = database
        self.authenticator = ProxyAuthenticator(database: database, key: key, configuration: configuration)
        self.upstream = upstream
        self.configuration = configuration
        self.streams = StreamCounter(limit: configuration.maxStreamsPerLicence)
        self.authFailures = ProxyAuthFailures(logger: logger)
        self.logger = logger
    }

    func addRoutes(to router: Router<FerryRequestContext>) {
        router.get("/token") { request, _ in try await self.token(request) }
        router.post("/token") { request, _ in try await self.oauthToken(request) }
        for path: RouterPath in ["/v2", "/v2/**"] {
            router.get(path) { request, context in try await self.handle(request, context: context) }
            router.head(path) { request, context in try await self.handle(request, context: context) }
            for method: HTTPRequest.Method in [.put, .post, .patch, .delete] {
                router.on(path, method: method) { request, _ -> Response in
                    let repository = (try? ProxyPath.parse(request.uri.path).get())?.repository
                    _ = try await authenticator.caller(request, repository: repository)
                    throw ProxyError(FerryError(.unsupported, "this registry is pull-only: \(request.method) is not supported"))
                }
            }
        }
    }

    // MARK: Token

    struct TokenResponse: Encodable {
        var token: String
        var access_token: String
        var expires_in: Int64
        var issued_at: String
    }

    /// `GET /token?service=…&scope=…`: HTTP Basic with the licence ID as password; a token for
    /// the asked repositories this licence may pull (others are left out, as registries do).
    func token(_ request: Request) async throws -> Response {
        guard let header = request.headers[.authorization], let password = ProxyAuthenticator.basicPassword(header) else {
            throw ProxyError(FerryError(.unauthorized, "the token endpoint needs HTTP Basic with the licence ID as the password"),
                challenge: #"Basic realm="ferry-proxy""#)
        }
        return try await issue(password: password, scopes: request.uri.queryParameters.getAll("scope").map { String($0) }, request: request)
    }

    /// The largest form `POST /token` reads.
    static let maxTokenFormSize = 64 * 1024

    /// `POST /token` with an OAuth2 form (`application/x-www-form-urlencoded`,
    /// `grant_type=password`, the licence ID as `password`, `scope`, `service`): what containerd
    /// asks first, as distribution's token servers answer it. Other grants are `400
    /// unsupported_grant_type` (no refresh tokens are issued).
    func oauthToken(_ request: Request) async throws -> Response {
        let body: ByteBuffer
        do {
            body = try await request.body.collect(upTo: Self.maxTokenFormSize)
        } catch is NIOTooManyBytesError {
            throw ProxyError(FerryError(.requestTooLarge, "the token request's form is larger than \(Self.maxTokenFormSize / 1024) KiB: send only grant_type, username, password, service and scope"))
        }
        guard let fields = FormFields(String(buffer: body)) else {
            throw ProxyError(FerryError(.invalidArgument, "the token request's form is not valid application/x-www-form-urlencoded"))
        }
        func field(_ name: String) -> String? { fields.first(name) }
        // Another grant is refused as such; a form without a password (or without a grant) is
        // challenged for credentials, as every route without them is.
        if let grant = field("grant_type"), grant != "password" {
            var headers = HTTPFields()
            headers[.contentType] = "application/json"
            headers[.cacheControl] = "no-store"
            let answer = #"{"error":"unsupported_grant_type","error_description":"only grant_type=password, with the licence ID as the password"}"#
            return Response(status: .badRequest, headers: headers, body: .init(byteBuffer: ByteBuffer(string: answer)))
        }
        guard let password = field("password"), !password.isEmpty else {
            throw ProxyError(
                FerryError(.unauthorized, "the token endpoint needs grant_type=password with the licence ID as the password"),
                challenge: #"Basic realm="ferry-proxy""#)
        }
        return try await issue(password: password, scopes: fields.all("scope"), request: request)
    }

    /// A token for the repositories of `scopes` the licence whose ID is `password` may pull.
    private func issue(password: String, scopes: [String], request: Request) async throws -> Response {
        let now = Date()
        let licence: Licence
        do {
            licence = try await authenticator.licence(password: password, request: request, repository: nil, now: now)
        } catch var error as ProxyError where error.error.code == .unauthorized {
            // This endpoint takes Basic: a refused login is challenged to log in again, not sent
            // for a Bearer token to the endpoint that just refused it.
            error.challenge = #"Basic realm="ferry-proxy""#
            throw error
        }
        let asked = TokenScope.pullRepositories(scopes)
        var granted: [String] = []
        for repository in asked.prefix(32) {
            let app = try await database.app(repository.app)
            if LicencePolicy.allows(licence, app: app, repository: repository) { granted.append(repository.description) }
        }
        let token = ProxyToken(licence: licence.id, repositories: granted, issuedAt: now, lifetime: configuration.tokenLifetime)
        let text = token.sign(key: authenticator.key)
        let body = TokenResponse(
            token: text, access_token: text, expires_in: configuration.tokenLifetime.components.seconds,
            issued_at: ISO8601DateFormatter().string(from: now))
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        headers[.cacheControl] = "no-store"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: try ProxyJSON.encoder.encode(body))))
    }

    // MARK: /v2/

    func handle(_ request: Request, context: FerryRequestContext) async throws -> Response {
        let route: ProxyPath
        switch ProxyPath.parse(request.uri.path) {
        case .success(let parsed):
            route = parsed
        case .failure(let problem):
            // Credentials first: whoever may not pull learns nothing about the API.
            _ = try await authenticator.caller(request, repository: nil)
            switch problem {
            case .notFound: throw ProxyError(FerryError(.notFound, "no such route in the proxy's registry API: \(request.uri.path.prefix(200))"))
            case .invalidName: throw ProxyError(FerryError(.invalidReference, "invalid repository name: expected proxy/<app>/<registry>/<repository>"))
            // No manifest can have an invalid tag: 404 MANIFEST_UNKNOWN, as the OCI conformance
            // suite expects (and as the leader answers), not 400.
            case .invalidReference: throw ProxyError(FerryError(.manifestUnknown, "not a valid tag"))
            case .invalidDigest: throw ProxyError(FerryError(.invalidDigest, "invalid digest"))
            }
        }
        // A refused pull of a manifest or blob by a known licence is audited as any pull.
        let audited: (repository: ProxyRepository, kind: String, digest: String)? =
            switch route {
            case .manifest(let repository, let reference) where request.method == .get: (repository, "manifest", reference.description)
            case .blob(let repository, let digest) where request.method == .get: (repository, "blob", digest.description)
            default: nil
            }
        let caller: ProxyCaller
        let authorized: (app: ProxyApp, image: ImageReference)?
        var known: Licence?
        do {
            caller = try await authenticator.caller(request, repository: route.repository)
            known = caller.licence
            authorized = if let repository = route.repository { try await authorize(request, caller: caller, repository: repository) } else { nil }
        } catch let error as ProxyError {
            // The licence: the caller's (refused a repository), or the one refused (revoked, expired).
            if let audited, let licence = known?.id ?? error.refused?.licence, let app = known?.app ?? error.refused?.app {
                await audit(
                    request, client: Self.client(context), licence: licence, app: app, audited.repository, kind: audited.kind, digest: audited.digest, bytes: 0,
                    status: error.status.code)
            }
            throw error
        }
        switch (route, authorized) {
        case (.base, _):
            return Self.json(request, "{}")
        case (.catalog, _):
            return try await catalog(request, caller: caller)
        case (.manifest(let repository, let reference), let authorized?):
            return try await manifest(
                request, context: context, caller: caller, app: authorized.app, repository: repository, upstream: authorized.image, reference: reference)
        case (.blob(let repository, let digest), let authorized?):
            return try await blob(request, context: context, caller: caller, app: authorized.app, repository: repository, upstream: authorized.image, digest: digest)
        case (.tags(let repository), let authorized?):
            return try await tags(request, repository: repository, upstream: authorized.image)
        case (.manifest, nil), (.blob, nil), (.tags, nil):
            throw ProxyError(FerryError(.internal, "a route with a repository was not authorized"))
        }
    }

    /// The licence check of a repository: `403 DENIED` naming it when outside the allowance;
    /// `401 insufficient_scope` when allowed but not in the caller's token. Returns the app and
    /// the upstream repository (on a registry the app defines: no other host is ever contacted).
    func authorize(_ request: Request, caller: ProxyCaller, repository: ProxyRepository) async throws -> (ProxyApp, ImageReference) {
        let app = try await database.app(repository.app)
        if let refusal = LicencePolicy.check(caller.licence, app: app, repository: repository, now: Date()) { throw ProxyError(refusal) }
        if let granted = caller.tokenRepositories, !granted.contains(repository.description) {
            throw authenticator.unauthorized(request, repository: repository, "the token does not cover \(repository)", error: "insufficient_scope")
        }
        guard let app, let host = app.registries[repository.registry] else {
            throw ProxyError(FerryError(.denied, "this licence does not allow pulling \(repository)"))
        }
        return (app, ImageReference(registry: host, repository: repository.repository))
    }

    func catalog(_ request: Request, caller: ProxyCaller) async throws -> Response {
        struct Catalog: Encodable { var repositories: [String] }
        guard let app = try await database.app(caller.licence.app) else { return Self.json(request, #"{"repositories":[]}"#) }
        let names = try await database.knownRepositories().compactMap { name -> String? in
            // Known upstream names (`host/repository`) shown under this app's registry names.
            for (registry, host) in app.registries.sorted(by: { $0.key < $1.key }) where name.hasPrefix(host + "/") {
                let repository = ProxyRepository(app: app.name, registry: registry, repository: String(name.dropFirst(host.count + 1)))
                if LicencePolicy.allows(caller.licence, app: app, repository: repository) { return repository.description }
            }
            return nil
        }
        let (page, headers) = try Self.page(names.sorted(), of: request, path: "/v2/_catalog")
        let body = try ProxyJSON.encoder.encode(Catalog(repositories: page))
        var response = Self.json(request, String(decoding: body, as: UTF8.self))
        response.headers.append(contentsOf: headers)
        return response
    }

    static func json(_ request: Request, _ text: String) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        headers[ProxyHeader.apiVersion] = "registry/2.0"
        headers[.contentLength] = String(text.utf8.count)
        if request.method == .head { return Response(status: .ok, headers: headers, body: .init()) }
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: text)))
    }
}
