import Crypto
import FerryCore
import FerryMesh
import FerryTestSupport
import Foundation
import Hummingbird
import HummingbirdTLS
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

extension MaliciousNode {
    /// Writes the node's certificate and key to `directory`, for presenting them as a TLS client
    /// certificate (``RawHTTPConnection``'s `clientCertificate`).
    func certificateFiles(in directory: String) throws -> (certificate: String, key: String) {
        guard let key, let certificate = join.certificate else {
            throw FerryError(.configuration, "the malicious node has no certificate (plain-HTTP mesh)")
        }
        let paths = ("\(directory)/\(name)-tls.pem", "\(directory)/\(name)-tls-key.pem")
        try certificate.write(toFile: paths.0, atomically: true, encoding: .utf8)
        try key.pemRepresentation.write(toFile: paths.1, atomically: true, encoding: .utf8)
        return paths
    }

    /// A TLS server presenting this node's certificate (chained to the cluster CA) that poses as
    /// the leader: it answers every request 404 and records what each carried.
    func impersonateLeader() async throws -> RecordingServer {
        guard let key, let certificate = join.certificate, let caFile else {
            throw FerryError(.configuration, "the malicious node has no certificate (plain-HTTP mesh)")
        }
        let ca = try String(contentsOfFile: caFile, encoding: .utf8)
        let tls = try MeshTLS.serverConfiguration(certificates: [certificate, ca], keyPEM: key.pemRepresentation)
        return try await RecordingServer.start(tls: tls)
    }
}

/// A server that records the requests it gets (method, path, `Authorization`) and answers 404:
/// over TLS, or in plain HTTP when `tls` is nil.
final class RecordingServer: Sendable {
    struct Seen: Sendable {
        var method: String
        var path: String
        var authorization: String?
    }

    let url: String
    private let box: Box
    private let server: BackgroundServer

    private init(url: String, box: Box, server: BackgroundServer) {
        self.url = url
        self.box = box
        self.server = server
    }

    /// Every request so far.
    var requests: [Seen] { box.seen.withLock { $0 } }

    static func start(tls: TLSConfiguration?) async throws -> RecordingServer {
        let box = Box()
        let router = Router()
        router.on("**", method: .get) { request, _ in box.record(request) }
        router.on("**", method: .post) { request, _ in box.record(request) }
        router.on("**", method: .head) { request, _ in box.record(request) }
        let server = try await BackgroundServer.start(router, server: try tls.map { try .tls(.http1(), tlsConfiguration: $0) } ?? .http1())
        return RecordingServer(url: "\(tls == nil ? "http" : "https")://127.0.0.1:\(server.port)", box: box, server: server)
    }

    final class Box: Sendable {
        let seen = Mutex<[Seen]>([])
        func record(_ request: Request) -> Response {
            seen.withLock { $0.append(Seen(method: "\(request.method)", path: request.uri.path, authorization: request.headers[.authorization])) }
            return Response(status: .notFound)
        }
    }

    func stop() async { await server.stop() }
}
