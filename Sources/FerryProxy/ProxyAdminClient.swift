import AsyncHTTPClient
import FerryCore
import FerryMesh
import FerryTransfer
import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL

/// A client of the proxy's management API (``ProxyAdminPath``): what `ferry proxy … --proxy URL`
/// speaks, with the admin token as a bearer credential. TLS is checked against the system's
/// trust store, plus `caFile` if given.
public struct ProxyAdminClient: ProxyManagement {
    public let baseURL: String
    let token: String
    let caFile: String?

    public init(baseURL: String, token: String, caFile: String? = nil) {
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.token = token
        self.caFile = caFile
    }

    public func putApp(_ app: ProxyApp) async throws -> ProxyApp { try await call(.POST, ProxyAdminPath.apps, body: app) }
    public func apps() async throws -> [ProxyApp] { try await call(.GET, ProxyAdminPath.apps) }
    public func createLicence(_ request: LicenceRequest) async throws -> CreatedLicence { try await call(.POST, ProxyAdminPath.licences, body: request) }
    public func licences() async throws -> [Licence] { try await call(.GET, ProxyAdminPath.licences) }
    public func licence(id: Int64) async throws -> LicenceUsage { try await call(.GET, ProxyAdminPath.licence(id: id)) }
    public func revokeLicence(id: Int64) async throws -> Licence { try await call(.POST, ProxyAdminPath.revoke(id: id)) }

    public func usage(licence: Int64?, since: Date) async throws -> [ProxyUsage.Row] {
        var query: [String] = []
        if let licence { query.append("licence=\(licence)") }
        if since != .distantPast { query.append("since=\(ISO8601DateFormatter().string(from: since))") }
        return try await call(.GET, ProxyAdminPath.usage + (query.isEmpty ? "" : "?" + query.joined(separator: "&")))
    }

    func call<Response: Decodable>(_ method: HTTPMethod, _ path: String, body: (some Encodable)? = Optional<Int>.none) async throws -> Response {
        guard let url = URL(string: baseURL), let scheme = url.scheme, ["http", "https"].contains(scheme), url.host != nil else {
            throw FerryError(.configuration, "invalid proxy URL '\(baseURL.prefix(200))': expected https://HOST[:PORT]")
        }
        var configuration = HTTPClient.Configuration(redirectConfiguration: .disallow, timeout: .init(connect: .seconds(10), read: .seconds(60)))
        // A refused connection or a name that does not resolve fails at once (a typo in --proxy),
        // instead of being retried for the connect timeout.
        configuration.connectionPool.retryConnectionEstablishment = false
        if let caFile {
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.additionalTrustRoots = [.file(caFile)]
            configuration.tlsConfiguration = tls
        }
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = method
        try SecretText.refuseUnprintable(token, what: "proxy's admin token", from: "FERRY_PROXY_TOKEN or --token-file")
        request.headers.add(name: "Authorization", value: "Bearer \(token)")
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: try FerryJSON.encoder().encode(body)))
        }
        let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        let exchanged: Result<(HTTPResponseStatus, Data), any Error>
        do {
            let response = try await http.execute(request, timeout: .seconds(60))
            exchanged = .success((response.status, Data((try await response.body.collect(upTo: 64 * 1024 * 1024)).readableBytesView)))
        } catch {
            exchanged = .failure(error)
        }
        try? await http.shutdown()
        let status: HTTPResponseStatus
        let data: Data
        switch exchanged {
        case .success(let answer): (status, data) = answer
        case .failure(let error):
            let reason = TransportProblem(error).map { "\($0)" } ?? String("\(error)".prefix(160))
            throw FerryError(.upstreamUnreachable, "cannot reach the proxy at \(baseURL): \(reason); is `ferry proxy serve` running there?")
        }
        guard (200..<300).contains(status.code) else {
            if status == .unauthorized {
                throw FerryError(.unauthorized, "the proxy at \(baseURL) refused the admin token; use the token in the proxy's DATA_DIR/admin-token")
            }
            if let error = try? FerryJSON.decoder().decode(ErrorResponse.self, from: data).errors.first { throw error.ferryError }
            throw FerryError(.upstreamError, "the proxy at \(baseURL) answered HTTP \(status.code)")
        }
        do {
            return try FerryJSON.decoder().decode(Response.self, from: data)
        } catch {
            throw FerryError(.upstreamError, "the proxy at \(baseURL) sent a response this ferry cannot read (version mismatch?)")
        }
    }
}
