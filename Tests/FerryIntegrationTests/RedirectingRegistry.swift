import AsyncHTTPClient
import FerryCore
import FerryTestSupport
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import NIOCore
import NIOHTTP1
import NIOSSL
import ServiceLifecycle
import Synchronization

/// A registry front for the redirect tests: proxies a real registry, but answers blob GETs with a
/// 307 to wherever ``location`` says (storage-backed registries redirect blobs to S3 or a CDN).
/// Its own `/storage/…` proxies the registry too: a "same host" storage.
final class RedirectingRegistry: Sendable {
    /// Where a blob GET for `path` is sent, given the front's own base URL; nil serves it directly.
    typealias Location = @Sendable (_ path: String, _ front: String) -> String?

    let port: Int
    let host: String
    let scheme: String
    private let counts: Counts
    private let front: BackgroundServer
    private let http: HTTPClient

    /// `host:port` as given in image references.
    var authority: String { "\(host):\(port)" }
    var url: String { "\(scheme)://\(authority)" }
    /// Blob GETs answered with a redirect.
    var redirects: Int { counts.redirects.withLock { $0 } }
    /// Requests served under `/storage/`.
    var storageRequests: Int { counts.storage.withLock { $0 } }

    private final class Counts: Sendable {
        let redirects = Mutex(0)
        let storage = Mutex(0)
        let front = Mutex("")
    }

    private init(
        port: Int, host: String, scheme: String, counts: Counts, front: BackgroundServer, http: HTTPClient
    ) {
        self.port = port
        self.host = host
        self.scheme = scheme
        self.counts = counts
        self.front = front
        self.http = http
    }

    /// Starts a front for `registry` (`http://127.0.0.1:PORT`) listening on `bind`, over TLS with
    /// `tls` if given; `name` is the host name clients use (default: `bind`).
    static func start(
        registry: String, bind: String = "127.0.0.1", name: String? = nil, tls: TestCertificates? = nil, location: @escaping Location
    ) async throws -> RedirectingRegistry {
        let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(redirectConfiguration: .disallow))
        let counts = Counts()
        let scheme = tls == nil ? "http" : "https"
        let router = Router()
        let handler: @Sendable (Request, BasicRequestContext) async throws -> Response = { request, _ in
            var path = request.uri.path
            if path.hasPrefix("/storage/") {
                counts.storage.withLock { $0 += 1 }
                path = String(path.dropFirst("/storage".count))
            } else if request.method == .get, path.contains("/blobs/"), let target = location(path, counts.front.withLock { $0 }) {
                counts.redirects.withLock { $0 += 1 }
                return Response(status: .temporaryRedirect, headers: [.location: target])
            }
            return try await forward(request, path: path, to: registry, http: http)
        }
        router.get("/**", use: handler)
        router.head("/**", use: handler)
        let server: HTTPServerBuilder
        if let tls {
            let configuration = TLSConfiguration.makeServerConfiguration(
                certificateChain: try NIOSSLCertificate.fromPEMFile(tls.serverCertificate).map { .certificate($0) },
                privateKey: .privateKey(try NIOSSLPrivateKey(file: tls.serverKey, format: .pem)))
            server = try .tls(.http1(), tlsConfiguration: configuration)
        } else {
            server = .http1()
        }
        let front: BackgroundServer
        do {
            front = try await BackgroundServer.start(router, server: server, host: bind)
        } catch {
            try? await http.shutdown()
            throw FerryError(.internal, "the redirecting registry did not start")
        }
        let port = front.port
        let host = name ?? bind
        counts.front.withLock { $0 = "\(scheme)://\(host):\(port)" }
        return RedirectingRegistry(port: port, host: host, scheme: scheme, counts: counts, front: front, http: http)
    }

    private static func forward(_ request: Request, path: String, to registry: String, http: HTTPClient) async throws -> Response {
        var outgoing = HTTPClientRequest(url: registry + path + (request.uri.query.map { "?\($0)" } ?? ""))
        outgoing.method = request.method == .head ? .HEAD : .GET
        for field in request.headers where [.accept, .authorization, .range].contains(field.name) {
            outgoing.headers.add(name: field.name.rawName, value: field.value)
        }
        let response = try await http.execute(outgoing, timeout: .seconds(120))
        var headers = HTTPFields()
        for header in response.headers {
            guard let name = HTTPField.Name(header.name), name != .transferEncoding, name != .connection else { continue }
            headers.append(HTTPField(name: name, value: header.value))
        }
        let status = HTTPResponse.Status(code: Int(response.status.code))
        guard request.method == .get, (200..<300).contains(status.code) else {
            let body = try await response.body.collect(upTo: 16 * 1024 * 1024)
            return Response(status: status, headers: headers, body: .init(byteBuffer: body))
        }
        let length = response.headers.first(name: "Content-Length").flatMap(Int.init)
        let body = ResponseBody(contentLength: length) { writer in
            for try await chunk in response.body { try await writer.write(chunk) }
            try await writer.finish(nil)
        }
        return Response(status: status, headers: headers, body: body)
    }

    func stop() async {
        await front.stop()
        try? await http.shutdown()
    }

    /// Runs `body` with a front that is stopped afterwards, whatever happens.
    static func with<T>(
        registry: String, bind: String = "127.0.0.1", name: String? = nil, tls: TestCertificates? = nil, location: @escaping Location,
        _ body: (RedirectingRegistry) async throws -> T
    ) async throws -> T {
        let front = try await start(registry: registry, bind: bind, name: name, tls: tls, location: location)
        do {
            let result = try await body(front)
            await front.stop()
            return result
        } catch {
            await front.stop()
            throw error
        }
    }
}
