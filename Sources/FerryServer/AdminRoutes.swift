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
    func install(_ request: InstallRequest) async throws -> InstallStatus
    func installs() async throws -> InstallList
    func install(id: Int64) async throws -> InstallStatus?
    func nodes() async throws -> NodeList
    /// Collects garbage on the leader (``AdminAPI/gc``).
    func collectGarbage(_ request: GarbageCollectionRequest) async throws -> GarbageCollectionReport
}

/// The admin API (``AdminAPI``): JSON, admin token only.
public struct AdminRoutes: Sendable {
    let backend: any AdminBackend

    public init(backend: any AdminBackend) { self.backend = backend }

    public func addRoutes(to router: Router<FerryRequestContext>) {
        router.post(RouterPath(AdminAPI.fetch)) { request, context in
            try Self.requireAdmin(context)
            let fetch: FetchRequest = try await Self.decode(request, context: context, expected: #"{"images": ["REF", …], "platform": "os/arch"}"#)
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
        router.post(RouterPath(AdminAPI.installs)) { request, context in
            try Self.requireAdmin(context)
            let install: InstallRequest = try await Self.decode(request, context: context, expected: #"{"images": ["REF", …], "nodes": ["NAME", …], "maxParallel": N}"#)
            return try Self.json(try await backend.install(install), status: .accepted)
        }
        router.get(RouterPath(AdminAPI.installs)) { _, context in
            try Self.requireAdmin(context)
            return try Self.json(try await backend.installs())
        }
        router.get(RouterPath(AdminAPI.install)) { _, context in
            try Self.requireAdmin(context)
            guard let id = context.parameters.get("id", as: Int64.self) else {
                throw FerryError(.invalidArgument, "install id must be an integer")
            }
            guard let status = try await backend.install(id: id) else { throw FerryError(.notFound, "no install with id \(id)") }
            return try Self.json(status)
        }
        router.get(RouterPath(AdminAPI.nodes)) { _, context in
            try Self.requireAdmin(context)
            return try Self.json(try await backend.nodes())
        }
        router.post(RouterPath(AdminAPI.gc)) { request, context in
            try Self.requireAdmin(context)
            let gc: GarbageCollectionRequest = try await Self.decode(request, context: context, expected: #"{"keep": N, "dryRun": false}"#)
            return try Self.json(try await backend.collectGarbage(gc.validated()))
        }
    }

    /// Decodes a JSON request body, or answers 400 naming the expected shape; a body over
    /// ``FerryRequestContext/maxBodySize`` gets 413, before it is read when its length says so.
    static func decode<T: Decodable>(_ request: Request, context: FerryRequestContext, expected: String) async throws -> T {
        let tooLarge = FerryError(.requestTooLarge, "the request body is larger than \(context.maxUploadSize) bytes: send a smaller request (fewer images per call)")
        if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > context.maxUploadSize { throw tooLarge }
        let body: ByteBuffer
        do {
            body = try await request.body.collect(upTo: context.maxUploadSize)
        } catch is NIOTooManyBytesError {
            throw tooLarge
        }
        do {
            return try FerryJSON.decoder().decode(T.self, from: Data(body.readableBytesView))
        } catch {
            throw FerryError(.invalidArgument, "the request body is not valid: expected \(expected)")
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
