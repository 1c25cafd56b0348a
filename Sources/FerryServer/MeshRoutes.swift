import FerryCore
import FerryMesh
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore

/// What the coordination API asks of the leader.
public protocol MeshBackend: Sendable {
    /// Joins with join token `token` (its id; nil for the admin token).
    func join(_ request: JoinRequest, token: Int64?) async throws -> JoinResponse
    func heartbeat(node: Int64, _ heartbeat: Heartbeat) async throws -> HeartbeatResponse
    func sources(node: Int64, _ request: SourceRequest) async throws -> SourceList
    /// Several sources requests in one (``MeshAPI/sourceBatch``).
    func sources(node: Int64, batch: SourceBatch) async throws -> SourceBatchAnswer
    func blobEvents(node: Int64, _ events: BlobEvents) async throws
    /// The node's work; a long poll of up to `wait` while its targets are exactly `known` and its
    /// rollout work exactly `switches` (``SwitchWorkItem/key``s).
    /// `halts`: the node understands halt items (``SwitchWorkItem/halt``); one that does not gets
    /// an aborted rollout's switch as it was (its poll would answer at once forever on the new key).
    func work(node: Int64, wait: Duration, known: Set<Int64>, switches: Set<String>, halts: Bool) async throws -> WorkResponse
    /// How the node's part of a rollout ended (``MeshAPI/switchReport``).
    func switchReport(node: Int64, rollout: String, _ report: SwitchReport) async throws
    func report(node: Int64, target: Int64, _ report: TargetReport) async throws
    func requestLoad(node: Int64, target: Int64, wait: Duration) async throws -> LoadPermit
    /// Issues the node a new certificate for `request.publicKey`; its previous one is revoked.
    func renewCertificate(node: Int64, _ request: CertificateRequest) async throws -> CertificateResponse
}

/// The coordination API (``MeshAPI``): the join route takes the join token, the others a node credential.
public struct MeshRoutes: Sendable {
    let backend: any MeshBackend
    /// Bounds each node's requests with a body (``NodeRequestBodies``).
    public let bodies: NodeRequestBodies
    /// The same for heartbeats, apart: a node's heartbeats never queue behind its other
    /// requests (a slow blob-events answer, re-hashing the leader's copy, would make an honest
    /// node look silent).
    public let heartbeats: NodeRequestBodies

    public init(backend: any MeshBackend, bodies: NodeRequestBodies = NodeRequestBodies(), heartbeats: NodeRequestBodies = NodeRequestBodies(limit: 2)) {
        self.backend = backend
        self.bodies = bodies
        self.heartbeats = heartbeats
    }

    public func addRoutes(to router: Router<FerryRequestContext>) {
        router.group(context: JoinRequestContext.self).post(RouterPath(MeshAPI.join)) { request, context in
            var join = try await request.decode(as: JoinRequest.self, context: context)
            let advertised = join.address
            join.address = NodeAddress.reachable(advertised, seenFrom: context.remoteIP)
            if let advertised, join.address == nil {
                context.logger.warning(
                    "a joining node advertises every interface and its connection comes from no address it listens on: no peer will fetch from it; start it with --advertise",
                    metadata: ["node": "\(join.name)", "advertised": "\(advertised)", "remote": "\(context.remoteIP ?? "-")"])
            }
            return try await backend.join(join, token: context.joinToken)
        }
        // The work and load long polls carry no body and wait long: outside the body bound.
        let polls = router.group(context: NodeRequestContext.self)
        let nodes = router.group(context: NodeRequestContext.self).add(middleware: bodies)
        router.group(context: NodeRequestContext.self).add(middleware: heartbeats).post(RouterPath(MeshAPI.heartbeat)) { request, context in
            var heartbeat = try await request.decode(as: Heartbeat.self, context: context)
            heartbeat.address = NodeAddress.reachable(heartbeat.address, seenFrom: context.remoteIP)
            return try await backend.heartbeat(node: context.node, heartbeat)
        }
        nodes.post(RouterPath(MeshAPI.sources)) { request, context in
            try await backend.sources(node: context.node, try await request.decode(as: SourceRequest.self, context: context))
        }
        nodes.post(RouterPath(MeshAPI.sourceBatch)) { request, context in
            try await backend.sources(node: context.node, batch: try await request.decode(as: SourceBatch.self, context: context))
        }
        nodes.post(RouterPath(MeshAPI.certificate)) { request, context in
            try await backend.renewCertificate(node: context.node, try await request.decode(as: CertificateRequest.self, context: context))
        }
        nodes.post(RouterPath(MeshAPI.blobs)) { request, context in
            try await backend.blobEvents(node: context.node, try await request.decode(as: BlobEvents.self, context: context))
            return Response(status: .noContent)
        }
        polls.get(RouterPath(MeshAPI.work)) { request, context in
            try await backend.work(
                node: context.node, wait: Self.wait(request), known: Self.known(request), switches: Self.switches(request),
                halts: request.uri.queryParameters.get("halts") == "1")
        }
        nodes.post(RouterPath(MeshAPI.report)) { request, context in
            try await backend.report(node: context.node, target: try AdminRoutes.id(context, "target"), try await request.decode(as: TargetReport.self, context: context))
            return Response(status: .noContent)
        }
        nodes.post(RouterPath(MeshAPI.switchReport)) { request, context in
            guard let rollout = context.parameters.get("id") else { throw FerryError(.invalidArgument, "no rollout ID given") }
            try await backend.switchReport(
                node: context.node, rollout: rollout, try await request.decode(as: SwitchReport.self, context: context))
            return Response(status: .noContent)
        }
        polls.post(RouterPath(MeshAPI.load)) { request, context in
            try await backend.requestLoad(node: context.node, target: try AdminRoutes.id(context, "target"), wait: Self.wait(request))
        }
    }

    /// `?known=ID,ID…`: the target ids the node already has (at most ``MeshAPI/maxKnownTargets``;
    /// what is not a number is left out).
    static func known(_ request: Request) -> Set<Int64> {
        guard let text = request.uri.queryParameters.get("known") else { return [] }
        return Set(text.split(separator: ",", maxSplits: MeshAPI.maxKnownTargets).prefix(MeshAPI.maxKnownTargets).compactMap { Int64($0) })
    }

    /// `?switches=ROLLOUT:ACTION,…`: the keys of the rollout work the node already has (at most
    /// ``MeshAPI/maxKnownTargets``).
    static func switches(_ request: Request) -> Set<String> {
        guard let text = request.uri.queryParameters.get("switches") else { return [] }
        return Set(text.split(separator: ",", maxSplits: MeshAPI.maxKnownTargets).prefix(MeshAPI.maxKnownTargets).map { String($0.prefix(64)) })
    }

    /// `?wait=SECONDS`, capped at 60.
    static func wait(_ request: Request) -> Duration {
        let seconds = request.uri.queryParameters.get("wait").flatMap { Int($0) } ?? 0
        return .seconds(min(max(seconds, 0), 60))
    }
}

/// The context of the join route: the join token (or the admin token).
struct JoinRequestContext: ChildRequestContext {
    var coreContext: CoreRequestContextStorage
    /// The join token's id; nil for the admin token.
    let joinToken: Int64?
    /// The IP address the request came from (``NodeAddress/reachable(_:seenFrom:)``).
    let remoteIP: String?

    init(context: FerryRequestContext) throws {
        switch context.principal?.role {
        case .joiner(let token)?: joinToken = token
        case .admin?: joinToken = nil
        default: throw FerryError(.denied, "joining needs the join token")
        }
        self.coreContext = context.coreContext
        self.remoteIP = context.channel?.remoteAddress?.ipAddress
    }

    var requestDecoder: FerryRequestDecoder { FerryRequestDecoder() }
    var responseEncoder: FerryResponseEncoder { FerryResponseEncoder() }
}
