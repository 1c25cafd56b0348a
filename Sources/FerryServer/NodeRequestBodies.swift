import FerryConcurrency
import FerryMesh
import Hummingbird

/// At most ``limit`` requests of one node with a body (heartbeats, sources questions, blob
/// events, reports) are read and handled at once; the node's others wait their turn. Each body
/// may be up to ``FerryRequestContext/maxBodySize``, so one node can no longer take the leader's
/// memory with many large bodies at once (an audit's node sent 40 blob-event bodies of 7.7 MB
/// at once and took the leader to 1.3 GB): its own requests wait, other nodes' do not. A
/// waiting request holds only its connection (its body is not read until its turn). An honest
/// follower sends a few at once, each handled in milliseconds. The work and load long polls,
/// which carry no body, are not counted.
public struct NodeRequestBodies: RouterMiddleware, Sendable {
    public typealias Context = NodeRequestContext

    /// Requests with a body one node has read and handled at once, at most.
    public static let limit = 4

    let semaphore: KeyedSemaphore<Int64>

    public init(limit: Int = Self.limit) { semaphore = KeyedSemaphore(limit: limit) }

    /// The node's requests being handled or waiting (for tests).
    public func users(node: Int64) -> Int { semaphore.users(node) }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        try await semaphore.withPermit(context.node) { try await next(request, context) }
    }
}
