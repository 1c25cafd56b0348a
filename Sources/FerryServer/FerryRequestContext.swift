import Hummingbird

/// Who made a request, once its credentials checked out.
public struct Principal: Sendable, Hashable {
    public enum Role: Sendable, Hashable {
        /// The operator, with the admin token.
        case admin
        /// A follower node, with its node credential.
        case node(name: String)
    }

    public var role: Role
    public init(_ role: Role) { self.role = role }

    public var isAdmin: Bool { role == .admin }
}

/// The request context of every Ferry HTTP server.
public struct FerryRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// Set by ``TokenAuthMiddleware`` for authenticated requests.
    public var principal: Principal?

    public init(source: Source) {
        self.coreContext = .init(source: source)
        self.principal = nil
    }

    /// Manifests and admin bodies are small; blobs never come in through a request body.
    public var maxUploadSize: Int { 1024 * 1024 }
}
