import FerryCore
import FerryTestSupport
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import Synchronization
import Testing

@testable import FerryRegistry

/// What the upstream client logs at the most verbose level.
@Suite("RegistryClient logging")
struct RegistryClientLoggingTests {
    /// A registry that wants a Bearer token from its own `/token`, and answers a manifest HEAD with one.
    static func registry(token: String) -> Router<BasicRequestContext> {
        let router = Router()
        router.get("/token") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: #"{"token":"\#(token)"}"#)))
        }
        router.head("/v2/demo/app/manifests/1") { request, _ in
            guard request.headers[.authorization] == "Bearer \(token)" else {
                let realm = "http://\(request.head.authority ?? "")/token"
                return Response(status: .unauthorized, headers: [.wwwAuthenticate: #"Bearer realm="\#(realm)",service="test""#])
            }
            return Response(status: .ok, headers: [
                .contentType: MediaType.ociManifest, .contentLength: "123",
                HTTPField.Name("Docker-Content-Digest")!: Digest.sha256(of: Data("manifest".utf8)).description,
            ])
        }
        return router
    }

    /// AsyncHTTPClient logs the first and last 32 bytes of every body it receives at `trace`:
    /// for a token endpoint, the token (whole, when the answer is short).
    @Test("A registry token is in no log record, even at trace")
    func tokensStayOutOfTraceLogs() async throws {
        let token = "tok-5ecret-9q"
        let server = try await BackgroundServer.start(Self.registry(token: token))
        let capture = CapturingLogHandler()
        let logger = Logger(label: "test", factory: { _ in capture })
        let client = try RegistryClient()
        do {
            let descriptor = try await client.resolve(try ImageReference(parsing: "127.0.0.1:\(server.port)/demo/app:1"), logger: logger)
            #expect(descriptor.size == 123)
        } catch {
            Issue.record(error)
        }
        try await client.shutdown()
        await server.stop()
        let hex = Data(token.utf8).map { String(format: "%02x", $0) }.joined()
        let records = capture.records.withLock { $0 }
        for record in records {
            #expect(!record.contains(token) && !record.lowercased().contains(hex), "\(record)")
        }
    }
}
