import FerryCore
import FerryServer
import FerryState
import FerryStore
import FerryTestSupport
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

/// `HTTPLimits.sendTimeout`: a client that stops reading a blob is cut, and the blob is free for
/// collection again; one that reads slowly is not.
@Suite("Send timeout")
struct SendTimeoutTests {
    /// Serves a blob of `size` bytes with `sendTimeout`, and hands `body` a client with a receive
    /// buffer of `receiveBuffer` bytes that has asked for it.
    static func serve(
        sendTimeout: Duration, size: Int, receiveBuffer: Int,
        _ body: @Sendable (_ client: RawTCPClient, _ store: BlobStore, _ digest: Digest) async throws -> Void
    ) async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("ferry-send-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let store = try BlobStore(root: root, configuration: .init(reservedSpace: 0))
        let bytes = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 11) }
        let digest = Digest.sha256(of: bytes)
        try await store.write(bytes, as: digest)
        let router = buildFerryRouter(
            verifier: AdminTokenVerifier(adminToken: ServerFixture.token),
            registry: RegistryReadAPI(database: try FerryDatabase.inMemory(), store: store, defaultRegistry: nil), admin: nil)
        let server = HTTPLimits(sendTimeout: sendTimeout).http1()
        try await Application(router: router, server: server, configuration: .init(address: .hostname("127.0.0.1", port: 0))).test(.live) { client in
            let raw = try RawTCPClient(port: try #require(client.port), receiveBuffer: receiveBuffer)
            try raw.send(Self.request(digest))
            try await body(raw, store, digest)
        }
    }

    /// Reads `client` to its end, at most `chunk` bytes every `interval`, on a thread of its own
    /// (blocking reads must not hold up the tests' tasks): the bytes read.
    static func drain(_ client: RawTCPClient, every interval: Duration = .zero, chunk: Int = 1 << 20) async -> Int {
        await withCheckedContinuation { (done: CheckedContinuation<Int, Never>) in
            Thread.detachNewThread {
                var received = 0
                while case let count = client.read(chunk), count > 0 {
                    received += count
                    if interval > .zero { Thread.sleep(forTimeInterval: Double(interval.components.seconds) + Double(interval.components.attoseconds) / 1e18) }
                }
                done.resume(returning: received)
            }
        }
    }

    static func request(_ digest: Digest) -> String {
        "GET /v2/lib/app/blobs/\(digest)?ns=registry.test HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(ServerFixture.token)\r\nConnection: close\r\n\r\n"
    }

    @Test("a client that stops reading a blob is cut after the send timeout, and the blob is no longer in use")
    func aClientThatStopsReadingIsCut() async throws {
        let size = 16 * 1024 * 1024
        try await Self.serve(sendTimeout: .seconds(1), size: size, receiveBuffer: 4096) { client, store, digest in
            try await client.waitForBody()
            // Without the timeout the response waits for ever, holding the blob from collection.
            try await waitUntil("the stalled response given up", timeout: .seconds(120)) { store.use(of: digest) == nil }
            let received = await Self.drain(client)
            #expect(received < size, "the connection was closed before the whole blob was sent (\(received) bytes)")
        }
    }

    @Test("a client that reads steadily gets the whole blob, however long the response takes")
    func aSteadyClientIsNotCut() async throws {
        let size = 16 * 1024 * 1024
        try await Self.serve(sendTimeout: .seconds(3), size: size, receiveBuffer: 65536) { client, _, digest in
            // At most 64 KiB every 20 ms, on a thread of its own (not held up by the tests'
            // tasks): a 256 KiB write waits some 80 ms for it, far from the timeout, while the
            // whole response takes longer than the timeout.
            let started = ContinuousClock.now
            let received = await Self.drain(client, every: .milliseconds(20), chunk: 64 * 1024)
            let took = ContinuousClock.now - started
            #expect(received > size, "the whole blob and its head arrived (\(received) bytes in \(took))")
            #expect(took > .seconds(3), "the response outlasted the timeout (\(took)): a deadline on the whole response would have cut it")
        }
    }
}
