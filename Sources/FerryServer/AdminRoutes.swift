import FerryCore
import FerryMesh
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// What the admin API asks of the leader.
public protocol AdminBackend: Sendable {
    func fetch(_ request: FetchRequest) async throws -> FetchResponse
    func images() async throws -> ImageList
    func image(id: Int64) async throws -> ImageStatus?
}

/// The admin API (``AdminAPI``): JSON, admin token only.
public struct AdminRoutes: Sendable {
    let backend: any AdminBackend

    public init(backend: any AdminBackend) { self.backend = backend }

    public func addRoutes(to router: Router<FerryRequestContext>) {
        router.post(RouterPath(AdminAPI.fetch)) { request, context in
            try Self.requireAdmin(context)
            let body = try await request.body.collect(upTo: context.maxUploadSize)
            let fetch: FetchRequest
            do {
                fetch = try FerryJSON.decoder().decode(FetchRequest.self, from: Data(body.readableBytesView))
            } catch {
                throw FerryError(.invalidArgument, "the request body is not a fetch request: expected {\"images\": [\"REF\", …], \"platform\": \"os/arch\"}")
            }
            return try Self.json(try await backend.fetch(fetch), status: .accepted)
        }
        router.get(RouterPath(AdminAPI.images)) { _, context in
            try Self.requireAdmin(context)
            return try Self.json(try await backend.images())
        }
        router.get(RouterPath(AdminAPI.image)) { _, context in
            try Self.requireAdmin(context)
            guard let id = context.parameters.get("id", as: Int64.self) else {
                throw FerryError(.invalidArgument, "image id must be an integer")
            }
            guard let status = try await backend.image(id: id) else { throw FerryError(.notFound, "no image with id \(id)") }
            return try Self.json(status)
        }
    }

    static func requireAdmin(_ context: FerryRequestContext) throws {
        guard context.principal?.isAdmin == true else {
            throw FerryError(.denied, "the admin API needs the admin token")
        }
    }

    static func json(_ value: some Encodable, status: HTTPResponse.Status = .ok) throws -> Response {
        let data = try FerryJSON.encoder().encode(value)
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}
