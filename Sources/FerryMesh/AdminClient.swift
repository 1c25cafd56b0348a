import AsyncHTTPClient
import FerryCore
import Foundation
import NIOCore
import NIOHTTP1

/// A client of the leader's admin API (what the CLI speaks).
public struct AdminClient: Sendable {
    public let baseURL: String
    let token: String

    /// One connection pool for the process; a refused connection fails at once instead of
    /// being retried until the timeout.
    private static let http: HTTPClient = {
        var configuration = HTTPClient.Configuration(redirectConfiguration: .disallow, timeout: .init(connect: .seconds(10), read: .seconds(60)))
        configuration.connectionPool.retryConnectionEstablishment = false
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }()

    public init(baseURL: String, token: String) {
        self.baseURL = baseURL
        self.token = token
    }

    public func fetch(_ request: FetchRequest) async throws -> FetchResponse {
        try await call(.POST, AdminAPI.fetch, body: request)
    }

    public func images() async throws -> ImageList {
        try await call(.GET, AdminAPI.images)
    }

    public func image(id: Int64) async throws -> ImageStatus {
        try await call(.GET, AdminAPI.image(id: id))
    }

    private func call<Response: Decodable>(_ method: HTTPMethod, _ path: String, body: (some Encodable)? = Optional<Int>.none) async throws -> Response {
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = method
        request.headers.add(name: "Authorization", value: "Bearer \(token)")
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: try FerryJSON.encoder().encode(body)))
        }
        let response: HTTPClientResponse
        do {
            response = try await Self.http.execute(request, timeout: .seconds(30))
        } catch {
            throw FerryError(.upstreamUnreachable, "cannot reach the leader at \(baseURL) (\(Self.describe(error))); is `ferry leader` running there?")
        }
        let data = Data((try await response.body.collect(upTo: 64 * 1024 * 1024)).readableBytesView)
        guard (200..<300).contains(response.status.code) else {
            if let error = try? FerryJSON.decoder().decode(ErrorResponse.self, from: data).errors.first {
                if response.status == .unauthorized {
                    throw FerryError(.unauthorized, "the leader at \(baseURL) refused the admin token; use the token in the leader's DATA_DIR/admin-token")
                }
                throw error.ferryError
            }
            throw FerryError(.upstreamError, "the leader at \(baseURL) answered HTTP \(response.status.code)")
        }
        do {
            return try FerryJSON.decoder().decode(Response.self, from: data)
        } catch {
            throw FerryError(.upstreamError, "the leader at \(baseURL) sent a response this ferry cannot read (version mismatch?)")
        }
    }

    static func describe(_ error: any Error) -> String {
        let text = "\(error)"
        if text.contains("connectionRefused") || text.contains("Connection refused") { return "connection refused" }
        if let error = error as? HTTPClientError, error == .connectTimeout { return "connection timed out" }
        return String(text.prefix(120))
    }
}
