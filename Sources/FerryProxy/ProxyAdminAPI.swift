import FerryCore
import FerryMesh
import FerryServer
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// The paths of the proxy's management API. Every route needs `Authorization: Bearer` with the
/// proxy's admin token (`DIR/admin-token`); licences never open it.
public enum ProxyAdminPath {
    public static let apps = "/admin/v1/proxy/apps"
    public static let licences = "/admin/v1/proxy/licences"
    public static let licence = "/admin/v1/proxy/licences/:id"
    public static let revoke = "/admin/v1/proxy/licences/:id/revoke"
    public static let usage = "/admin/v1/proxy/usage"

    public static func licence(id: Int64) -> String { "/admin/v1/proxy/licences/\(id)" }
    public static func revoke(id: Int64) -> String { "/admin/v1/proxy/licences/\(id)/revoke" }
}

/// The management API's routes over ``LocalProxyManagement``: JSON in and out (ISO 8601 dates),
/// errors registry-style.
struct ProxyAdminAPI: Sendable {
    let management: LocalProxyManagement
    let adminToken: String

    func addRoutes(to router: Router<FerryRequestContext>) {
        let admin = router.group(context: ProxyAdminRequestContext.self).add(middleware: ProxyAdminTokenCheck(adminToken: adminToken))
        admin.get(RouterPath(ProxyAdminPath.apps)) { _, _ in try Self.json(try await management.apps()) }
        admin.post(RouterPath(ProxyAdminPath.apps)) { request, context in
            try Self.json(try await management.putApp(try await request.decode(as: ProxyApp.self, context: context)))
        }
        admin.get(RouterPath(ProxyAdminPath.licences)) { _, _ in try Self.json(try await management.licences()) }
        admin.post(RouterPath(ProxyAdminPath.licences)) { request, context in
            try Self.json(try await management.createLicence(try await request.decode(as: LicenceRequest.self, context: context)))
        }
        admin.get(RouterPath(ProxyAdminPath.licence)) { _, context in try Self.json(try await management.licence(id: try Self.id(context))) }
        admin.post(RouterPath(ProxyAdminPath.revoke)) { _, context in try Self.json(try await management.revokeLicence(id: try Self.id(context))) }
        admin.get(RouterPath(ProxyAdminPath.usage)) { request, _ in
            let parameters = request.uri.queryParameters
            let licence = try parameters.get("licence").map { text throws(FerryError) in
                guard let number = Int64(text) else { throw FerryError(.invalidArgument, "invalid licence number '\(text.prefix(40))'") }
                return number
            }
            let since = try parameters.get("since").map { text throws(FerryError) in
                guard let date = ISO8601DateFormatter().date(from: text) else {
                    throw FerryError(.invalidArgument, "invalid since '\(text.prefix(40))': expected an RFC 3339 time")
                }
                return date
            } ?? .distantPast
            return try Self.json(try await management.usage(licence: licence, since: since))
        }
    }

    static func id(_ context: ProxyAdminRequestContext) throws -> Int64 {
        guard let text = context.parameters.get("id"), let id = Int64(text) else {
            throw FerryError(.invalidArgument, "invalid licence number: expected a whole number")
        }
        return id
    }

    static func json(_ value: some Encodable) throws -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        headers[.cacheControl] = "no-store"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: try FerryJSON.encoder().encode(value))))
    }
}

/// The context of the management API's routes: bodies decode as Ferry's JSON (ISO 8601 dates,
/// 413 past ``FerryRequestContext/maxBodySize``, 400 naming the expected shape); answers are
/// written by ``ProxyAdminAPI/json(_:)`` (`Cache-Control: no-store`).
struct ProxyAdminRequestContext: ChildRequestContext {
    var coreContext: CoreRequestContextStorage

    init(context: FerryRequestContext) { self.coreContext = context.coreContext }

    var requestDecoder: FerryRequestDecoder { FerryRequestDecoder() }
}

/// Refuses (`401`, with a challenge) every request to the management API without the proxy's
/// admin token, compared in constant time.
struct ProxyAdminTokenCheck: RouterMiddleware {
    let adminToken: String

    func handle(
        _ request: Request, context: ProxyAdminRequestContext, next: (Request, ProxyAdminRequestContext) async throws -> Response
    ) async throws -> Response {
        guard ProxyAuthenticator.presentsAdminToken(request, adminToken) else {
            throw ProxyError(FerryError(.unauthorized, "the management API needs the proxy's admin token"), challenge: #"Bearer realm="ferry-proxy-admin""#)
        }
        return try await next(request, context)
    }
}

extension ProxyApp: APIRequestBody {
    public static var expectedShape: String { #"{"name": "APP", "registries": {"NAME": "HOST[:PORT]"}, "images": ["GLOB", …]}"# }
}

extension LicenceRequest: APIRequestBody {
    public static var expectedShape: String { #"{"app": "APP", "customer": "…", "images": ["GLOB", …], "expiresAt": "RFC 3339", "maxRate": N}"# }
}
