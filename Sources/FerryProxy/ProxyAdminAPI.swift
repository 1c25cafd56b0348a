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
        router.get(RouterPath(ProxyAdminPath.apps)) { request, _ in
            try authorize(request)
            return try Self.json(try await management.apps())
        }
        router.post(RouterPath(ProxyAdminPath.apps)) { request, _ in
            try authorize(request)
            return try Self.json(try await management.putApp(try await Self.decode(ProxyApp.self, request)))
        }
        router.get(RouterPath(ProxyAdminPath.licences)) { request, _ in
            try authorize(request)
            return try Self.json(try await management.licences())
        }
        router.post(RouterPath(ProxyAdminPath.licences)) { request, _ in
            try authorize(request)
            return try Self.json(try await management.createLicence(try await Self.decode(LicenceRequest.self, request)))
        }
        router.get(RouterPath(ProxyAdminPath.licence)) { request, context in
            try authorize(request)
            return try Self.json(try await management.licence(id: try Self.id(context)))
        }
        router.post(RouterPath(ProxyAdminPath.revoke)) { request, context in
            try authorize(request)
            return try Self.json(try await management.revokeLicence(id: try Self.id(context)))
        }
        router.get(RouterPath(ProxyAdminPath.usage)) { request, _ in
            try authorize(request)
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

    /// Refuses (`401`) a request without the admin token, compared in constant time.
    func authorize(_ request: Request) throws {
        guard let header = request.headers[.authorization], header.hasPrefix("Bearer "),
            ProxyAuthenticator.constantTimeEqual(String(header.dropFirst(7)), adminToken)
        else {
            throw ProxyError(FerryError(.unauthorized, "the management API needs the proxy's admin token"), challenge: #"Bearer realm="ferry-proxy-admin""#)
        }
    }

    static func id(_ context: FerryRequestContext) throws -> Int64 {
        guard let text = context.parameters.get("id"), let id = Int64(text) else {
            throw FerryError(.invalidArgument, "invalid licence number: expected a whole number")
        }
        return id
    }

    static func decode<T: Decodable>(_ type: T.Type, _ request: Request) async throws -> T {
        let body = try await request.body.collect(upTo: 1024 * 1024)
        do {
            return try FerryJSON.decoder().decode(type, from: Data(body.readableBytesView))
        } catch {
            throw FerryError(.invalidArgument, "the request body is not a valid \(type): \(String("\(error)".prefix(200)))")
        }
    }

    static func json(_ value: some Encodable) throws -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        headers[.cacheControl] = "no-store"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: try FerryJSON.encoder().encode(value))))
    }
}
