import FerryCore
import Hummingbird
import NIOCore

/// Who made a request, once its credentials checked out.
public struct Principal: Sendable, Hashable {
    public enum Role: Sendable, Hashable {
        /// The operator, with the admin token.
        case admin
        /// A follower node, with its node credential.
        case node(id: Int64, name: String)
        /// A follower about to join, with a join token (its id; the join checks it is still
        /// valid and takes one of its uses): may call the join route only.
        case joiner(token: Int64)
        /// A node holding a peer token from the leader: may fetch that one blob, nothing else.
        case peer(node: String, digest: Digest)
    }

    public var role: Role
    public init(_ role: Role) { self.role = role }

    public var isAdmin: Bool { role == .admin }

    /// The node's id, for a node credential.
    public var nodeID: Int64? {
        if case .node(let id, _) = role { return id }
        return nil
    }

    /// Whether the `/v2/` read API is open to this principal (admin and nodes; peers for their blob only).
    public var mayRead: Bool {
        switch role {
        case .admin, .node: true
        case .joiner, .peer: false
        }
    }
}

/// The request context of every Ferry HTTP server.
public struct FerryRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// Set by ``TokenAuthMiddleware`` for authenticated requests.
    public var principal: Principal?
    /// The connection the request came on (for its TLS client certificate); nil in tests without one.
    public let channel: (any Channel)?

    public init(source: Source) {
        self.coreContext = .init(source: source)
        self.principal = nil
        self.channel = source.channel
    }

    /// The largest request body any route reads (8 MiB): manifests, admin bodies and inventories
    /// are small; blobs never come in through a request body. Larger ones get 413.
    public static let maxBodySize = 8 * 1024 * 1024

    public var maxUploadSize: Int { Self.maxBodySize }
}
