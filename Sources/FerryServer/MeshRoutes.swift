import FerryCore
import FerryMesh
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// What the coordination API asks of the leader.
public protocol MeshBackend: Sendable {
    func join(_ request: JoinRequest) async throws -> JoinResponse
    func heartbeat(node: Int64, _ heartbeat: Heartbeat) async throws -> HeartbeatResponse
    func sources(node: Int64, _ request: SourceRequest) async throws -> SourceList
    func blobEvents(node: Int64, _ events: BlobEvents) async throws
    func work(node: Int64, wait: Duration) async throws -> WorkResponse
    func report(node: Int64, target: Int64, _ report: TargetReport) async throws
    func requestLoad(node: Int64, target: Int64, wait: Duration) async throws -> LoadPermit
}

/// The coordination API (``MeshAPI``): the join route takes the join token, the others a node credential.
public struct MeshRoutes: Sendable {
    let backend: any MeshBackend

    public init(backend: any MeshBackend) { self.backend = backend }

    public func addRoutes(to router: Router<FerryRequestContext>) {
        router.post(RouterPath(MeshAPI.join)) { request, context in
            guard context.principal?.role == .joiner || context.principal?.isAdmin == true else {
                throw FerryError(.denied, "joining needs the join token")
            }
            let join: JoinRequest = try await AdminRoutes.decode(request, context: context, expected: #"{"name": "NODE", "platform": "os/arch"}"#)
            return try AdminRoutes.json(try await backend.join(join))
        }
        router.post(RouterPath(MeshAPI.heartbeat)) { request, context in
            let node = try Self.node(context)
            let heartbeat: Heartbeat = try await AdminRoutes.decode(request, context: context, expected: #"{"dockerVersion": "…"}"#)
            return try AdminRoutes.json(try await backend.heartbeat(node: node, heartbeat))
        }
        router.post(RouterPath(MeshAPI.sources)) { request, context in
            let node = try Self.node(context)
            let sources: SourceRequest = try await AdminRoutes.decode(request, context: context, expected: #"{"digest": "sha256:…", "size": N, "have": N, "repository": "…"}"#)
            return try AdminRoutes.json(try await backend.sources(node: node, sources))
        }
        router.post(RouterPath(MeshAPI.blobs)) { request, context in
            let node = try Self.node(context)
            let events: BlobEvents = try await AdminRoutes.decode(request, context: context, expected: #"{"events": [{"digest": "sha256:…", "kind": "present", "size": N}]}"#)
            try await backend.blobEvents(node: node, events)
            return Response(status: .noContent)
        }
        router.get(RouterPath(MeshAPI.work)) { request, context in
            let node = try Self.node(context)
            return try AdminRoutes.json(try await backend.work(node: node, wait: Self.wait(request)))
        }
        router.post(RouterPath(MeshAPI.report)) { request, context in
            let node = try Self.node(context)
            let report: TargetReport = try await AdminRoutes.decode(request, context: context, expected: #"{"state": "transferring", "bytesDone": N}"#)
            try await backend.report(node: node, target: try Self.target(context), report)
            return Response(status: .noContent)
        }
        router.post(RouterPath(MeshAPI.load)) { request, context in
            let node = try Self.node(context)
            return try AdminRoutes.json(try await backend.requestLoad(node: node, target: try Self.target(context), wait: Self.wait(request)))
        }
    }

    static func node(_ context: FerryRequestContext) throws -> Int64 {
        guard let node = context.principal?.nodeID else {
            throw FerryError(.denied, "the coordination API needs a node credential")
        }
        return node
    }

    static func target(_ context: FerryRequestContext) throws -> Int64 {
        guard let id = context.parameters.get("id", as: Int64.self) else {
            throw FerryError(.invalidArgument, "target id must be an integer")
        }
        return id
    }

    /// `?wait=SECONDS`, capped at 60.
    static func wait(_ request: Request) -> Duration {
        let seconds = request.uri.queryParameters.get("wait").flatMap { Int($0) } ?? 0
        return .seconds(min(max(seconds, 0), 60))
    }
}
