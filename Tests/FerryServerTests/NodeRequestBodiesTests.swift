import FerryCore
import FerryMesh
import FerryServer
import FerryState
import FerryStore
import FerryTestSupport
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Synchronization
import Testing

/// An audit's node sent the leader 40 blob-event bodies of 7.7 MB at once and took it to 1.3 GB:
/// nothing bounded one node's concurrent requests but its work long polls.
@Suite("One node's requests with a body")
struct NodeRequestBodiesTests {
    /// Holds node 1's blob events until ``open()``; answers everything else at once.
    final class Backend: MeshBackend {
        let inside = Mutex<[Int64: Int]>([:])
        let door = Door()

        func open() { door.open() }
        func inside(_ node: Int64) -> Int { inside.withLock { $0[node] ?? 0 } }

        func blobEvents(node: Int64, _ events: BlobEvents) async throws {
            inside.withLock { $0[node, default: 0] += 1 }
            defer { inside.withLock { $0[node, default: 0] -= 1 } }
            if node == 1 { await door.pass() }
        }

        func work(node: Int64, wait: Duration, known: Set<Int64>, switches: Set<String>, halts: Bool) async throws -> WorkResponse {
            WorkResponse(items: [])
        }

        func join(_ request: JoinRequest, token: Int64?) async throws -> JoinResponse { throw Self.unused }
        func heartbeat(node: Int64, _ heartbeat: Heartbeat) async throws -> HeartbeatResponse { HeartbeatResponse(sendInventory: false) }
        func sources(node: Int64, _ request: SourceRequest) async throws -> SourceList { throw Self.unused }
        func sources(node: Int64, batch: SourceBatch) async throws -> SourceBatchAnswer { throw Self.unused }
        func switchReport(node: Int64, rollout: String, _ report: SwitchReport) async throws { throw Self.unused }
        func report(node: Int64, target: Int64, _ report: TargetReport) async throws { throw Self.unused }
        func requestLoad(node: Int64, target: Int64, wait: Duration) async throws -> LoadPermit { throw Self.unused }
        func renewCertificate(node: Int64, _ request: CertificateRequest) async throws -> CertificateResponse { throw Self.unused }

        static let unused = FerryError(.internal, "not used by this test")
    }

    /// Node credentials `node-1`, `node-2`.
    struct Verifier: CredentialVerifier {
        func principal(forToken token: String) async -> Principal? {
            guard token.hasPrefix("node-"), let id = Int64(token.dropFirst(5)) else { return nil }
            return Principal(.node(id: id, name: "n\(id)"))
        }
    }

    @Test("a node's requests with a body past the limit wait their turn; other nodes, its heartbeats and its long polls do not wait")
    func bodiesPerNodeAreBounded() async throws {
        let backend = Backend()
        let routes = MeshRoutes(backend: backend)
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("ferry-bodies-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let router = buildFerryRouter(
            verifier: Verifier(),
            registry: RegistryReadAPI(database: try FerryDatabase.inMemory(), store: try BlobStore(root: root), defaultRegistry: nil),
            admin: nil, mesh: routes)
        let body = ByteBuffer(bytes: Array(try JSONEncoder().encode(BlobEvents(events: []))))
        @Sendable func post(_ node: Int) -> [HTTPField] {
            [HTTPField(name: .authorization, value: "Bearer node-\(node)"), HTTPField(name: .contentType, value: "application/json")]
        }
        try await Application(router: router).test(.router) { client in
            let count = NodeRequestBodies.limit + 3
            let held = (0..<count).map { _ in
                Task { try await client.execute(uri: MeshAPI.blobs, method: .post, headers: HTTPFields(post(1)), body: body) { $0.status } }
            }
            try await waitUntil("node 1's requests in") { routes.bodies.users(node: 1) == count && backend.inside(1) == NodeRequestBodies.limit }
            #expect(backend.inside(1) == NodeRequestBodies.limit, "the rest wait outside the handler")
            // Another node is not held back, nor node 1's long poll.
            let other = try await client.execute(uri: MeshAPI.blobs, method: .post, headers: HTTPFields(post(2)), body: body) { $0.status }
            #expect(other == .noContent)
            let poll = try await client.execute(uri: "\(MeshAPI.work)?wait=0", method: .get, headers: HTTPFields(post(1))) { $0.status }
            #expect(poll == .ok)
            let heartbeat = ByteBuffer(bytes: Array(try JSONEncoder().encode(Heartbeat(dockerVersion: "27.0", dockerError: nil))))
            let beat = try await client.execute(uri: MeshAPI.heartbeat, method: .post, headers: HTTPFields(post(1)), body: heartbeat) { $0.status }
            #expect(beat == .ok, "a node's heartbeat does not queue behind its other requests")
            backend.open()
            for task in held { #expect(try await task.value == .noContent) }
            #expect(routes.bodies.users(node: 1) == 0)
        }
    }
}
