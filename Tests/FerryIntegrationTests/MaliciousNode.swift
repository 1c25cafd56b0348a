import enum Crypto.P256
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

/// A node that joined a ``TestCluster`` with the join token and is then driven by hand over the
/// mesh API: it says whatever a test makes it say (heartbeats, blob events, source requests,
/// reports) and, once ``serve(_:)`` runs, answers other nodes' blob requests with lies.
///
/// It is what a compromised follower (or anyone holding the join token) can do, so each of the
/// security tests uses it to check that the lie harms only the liar.
final class MaliciousNode: Sendable {
    /// How the node's blob server answers `GET /v2/…/blobs/<digest>`.
    enum Serving: Sendable {
        /// The right status and headers, then only the first `bytes` of the blob, then a clean close.
        case short(bytes: Int)
        /// The whole blob followed by `extra` bytes it does not contain.
        case long(extra: Int)
        /// Headers, then nothing for `seconds`.
        case stall(seconds: Int)
        /// The right length of the wrong bytes.
        case wrong
        /// Headers, then one byte every `seconds` (under the read timeout: never silent long enough).
        case drip(seconds: Int)
    }

    let name: String
    let join: JoinResponse
    /// The key its certificate was issued for (nil on a plain-HTTP mesh).
    let key: P256.Signing.PrivateKey?
    let mesh: MeshClient
    let leaderURL: String
    let caFile: String?

    private init(name: String, join: JoinResponse, key: P256.Signing.PrivateKey?, leaderURL: String, caFile: String?) {
        self.name = name
        self.join = join
        self.key = key
        self.leaderURL = leaderURL
        self.caFile = caFile
        mesh = MeshClient(baseURL: leaderURL, credential: join.credential, caFile: caFile)
    }

    var credential: String { join.credential }

    /// Joins `cluster`'s leader as `name` with the join token, asking for a certificate.
    /// `address` is what it advertises at join (it may say something else in heartbeats).
    static func join(_ cluster: TestCluster, name: String, address: String? = nil, joinToken: String? = nil) async throws -> MaliciousNode {
        let token = try JoinToken(parsing: joinToken ?? cluster.leader.joinToken)
        let key = P256.Signing.PrivateKey()
        let response = try await MeshClient.join(
            baseURL: cluster.leader.url, joinToken: token.description, caFile: cluster.leader.caFile,
            JoinRequest(name: name, address: address, platform: Platform.host.description, publicKey: key.publicKey.pemRepresentation))
        return MaliciousNode(name: name, join: response, key: key, leaderURL: cluster.leader.url, caFile: cluster.leader.caFile)
    }

    /// Sends a heartbeat advertising `address`.
    @discardableResult
    func heartbeat(address: String?) async throws -> HeartbeatResponse {
        try await mesh.heartbeat(Heartbeat(dockerVersion: "27.0.0", dockerError: nil, address: address))
    }

    /// Makes this node a target of an install of `reference`, as a compromised node of the cluster
    /// legitimately is: from then on the leader lets it read that image and ask for its sources
    /// (docs/mesh.md, *What a node may read*). The install is left running.
    func enlist(in cluster: TestCluster, _ reference: String) async throws {
        try await heartbeat(address: nil)
        let result = try await cluster.ferry(["install", reference, "--nodes", name, "--no-wait"])
        guard result.status == 0 else { throw FerryError(.internal, "cannot install \(reference) on \(name): \(result.stderr)") }
    }

    /// Heartbeats every 2 s until the task is cancelled, so that the leader never counts the node
    /// gone (and never frees what it holds).
    func keepBeating() -> Task<Void, Never> {
        Task {
            while !Task.isCancelled {
                _ = try? await heartbeat(address: nil)
                try? await Task.sleep(for: .seconds(2))
            }
        }
    }

    /// Installs `reference` on `nodes` and this node with one load slot, says it holds every blob
    /// at once, and takes the slot (any node can: it is what the protocol allows); returns the
    /// install and this node's target.
    func takeLoadSlot(in cluster: TestCluster, _ reference: String, besides nodes: [String]) async throws -> (install: InstallStatus, target: Int64) {
        try await heartbeat(address: nil)
        let install = try await cluster.admin.install(InstallRequest(images: [reference], nodes: nodes + [name], maxParallel: 1))
        guard let target = try await mesh.work(wait: .seconds(30)).items.first?.targetID else {
            throw FerryError(.internal, "\(name) got no work for \(reference)")
        }
        try await mesh.report(target: target, TargetReport(state: .transferring, bytesDone: 0, bytesTotal: 1, starting: true))
        try await mesh.report(target: target, TargetReport(state: .ready, bytesDone: 1, bytesTotal: 1))
        guard try await mesh.requestLoad(target: target, wait: .seconds(5)).granted else {
            throw FerryError(.internal, "\(name) did not get the load slot")
        }
        return (install, target)
    }

    /// Sends blob events as they are (the leader decides what to believe).
    func report(_ events: [BlobEvent], inventory: Bool = false) async throws {
        try await mesh.blobEvents(BlobEvents(events: events, inventory: inventory))
    }

    /// Claims to hold `digest` completely.
    func claimPresent(_ digest: Digest, size: Int64) async throws {
        try await report([BlobEvent(digest: digest, kind: .present, size: size)])
    }

    /// Asks the leader where to fetch `digest` from (and so is listed as receiving it).
    func sources(for digest: Digest, size: Int64, repository: String = "app", failed: [String] = []) async throws -> SourceList {
        try await mesh.sources(SourceRequest(digest: digest, size: size, have: 0, repository: repository, failed: failed))
    }

    /// Sends `body` to a mesh route with this node's credential and returns the raw answer.
    func raw(_ method: String, _ path: String, body: String = "") async throws -> RawHTTPResponse? {
        let host = leaderURL.split(separator: "/").last.map(String.init) ?? ""
        let request =
            "\(method) \(path) HTTP/1.1\r\nHost: \(host)\r\nAuthorization: Bearer \(credential)\r\n"
            + "Content-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)"
        return try await RawHTTPConnection.exchange(url: leaderURL, caFile: caFile, request)
    }

    /// Serves blobs badly over TLS with the certificate the leader issued it, on 127.0.0.1:0, until
    /// the returned server stops. `blobs` are the true contents it bases its lies on.
    func serve(_ serving: Serving, blobs: [Digest: [UInt8]]) async throws -> LyingServer {
        guard let key, let certificate = join.certificate, let caFile else {
            throw FerryError(.configuration, "the malicious node has no certificate (plain-HTTP mesh)")
        }
        let ca = try String(contentsOfFile: caFile, encoding: .utf8)
        let tls = try MeshTLS.serverConfiguration(certificates: [certificate, ca], keyPEM: key.pemRepresentation)
        return try await LyingServer.start(serving, blobs: blobs, tls: tls)
    }
}

/// The HTTPS server of a ``MaliciousNode``: counts the blob requests it gets.
final class LyingServer: Sendable {
    let port: Int
    let url: String
    private let requestCount: Counter
    private let server: BackgroundServer

    final class Counter: Sendable {
        private let value = Mutex(0)
        func increment() { value.withLock { $0 += 1 } }
        var count: Int { value.withLock { $0 } }
    }

    private init(server: BackgroundServer, requestCount: Counter) {
        self.port = server.port
        self.url = "https://127.0.0.1:\(server.port)"
        self.requestCount = requestCount
        self.server = server
    }

    /// Blob requests received so far.
    var requests: Int { requestCount.count }

    static func start(_ serving: MaliciousNode.Serving, blobs: [Digest: [UInt8]], tls: TLSConfiguration) async throws -> LyingServer {
        let counter = Counter()
        let router = Router()
        router.on("/v2/**", method: .get) { request, _ -> Response in
            counter.increment()
            guard let last = request.uri.path.split(separator: "/").last, let digest = try? Digest(parsing: String(last)),
                let blob = blobs[digest]
            else { return Response(status: .notFound) }
            let body: ResponseBody
            var length = blob.count
            switch serving {
            case .short(let bytes):
                body = ResponseBody(byteBuffer: ByteBuffer(bytes: blob.prefix(bytes)))
            case .long(let extra):
                length = blob.count + extra
                body = ResponseBody(byteBuffer: ByteBuffer(bytes: blob + [UInt8](repeating: 0x41, count: extra)))
            case .stall(let seconds):
                body = ResponseBody { writer in
                    try await Task.sleep(for: .seconds(seconds))
                    try await writer.write(ByteBuffer(bytes: blob))
                    try await writer.finish(nil)
                }
            case .wrong:
                body = ResponseBody(byteBuffer: ByteBuffer(bytes: blob.map { $0 ^ 0x5A }))
            case .drip(let seconds):
                body = ResponseBody { writer in
                    for byte in blob {
                        try await writer.write(ByteBuffer(bytes: [byte]))
                        try await Task.sleep(for: .seconds(seconds))
                    }
                    try await writer.finish(nil)
                }
            }
            var headers: HTTPFields = [.contentType: "application/octet-stream", .init("Docker-Content-Digest")!: digest.description]
            if case .long = serving {
                headers[.contentLength] = String(length)
            } else {
                headers[.contentLength] = String(blob.count)
            }
            return Response(status: .ok, headers: headers, body: body)
        }
        let server = try await BackgroundServer.start(router, server: try .tls(.http1(), tlsConfiguration: tls))
        return LyingServer(server: server, requestCount: counter)
    }

    func stop() async { await server.stop() }
}
