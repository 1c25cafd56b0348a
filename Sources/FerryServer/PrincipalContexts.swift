import FerryCore
import Hummingbird
import NIOCore

/// The context of the admin API's routes: creating it checks the admin token, so that a route
/// group, not each handler, refuses everyone else (403).
public struct AdminRequestContext: ChildRequestContext {
    public var coreContext: CoreRequestContextStorage

    public init(context: FerryRequestContext) throws {
        guard context.principal?.isAdmin == true else { throw FerryError(.denied, "the admin API needs the admin token") }
        self.coreContext = context.coreContext
    }

    public var requestDecoder: FerryRequestDecoder { FerryRequestDecoder() }
    public var responseEncoder: FerryResponseEncoder { FerryResponseEncoder() }
}

/// The context of routes only a node may call with its own credential (the coordination API, a
/// follower's local admin route): creating it checks the credential and carries the node's id.
public struct NodeRequestContext: ChildRequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The calling node's id (0 on a follower: itself).
    public let node: Int64
    /// The IP address the request came from (``NodeAddress/reachable(_:seenFrom:)``).
    public let remoteIP: String?

    public init(context: FerryRequestContext) throws {
        guard let node = context.principal?.nodeID else { throw FerryError(.denied, Self.denial) }
        self.coreContext = context.coreContext
        self.node = node
        self.remoteIP = context.channel?.remoteAddress?.ipAddress
    }

    /// The refusal; the follower's local admin route names its credential file instead.
    static let denial = "the coordination API needs a node credential"

    public var requestDecoder: FerryRequestDecoder { FerryRequestDecoder() }
    public var responseEncoder: FerryResponseEncoder { FerryResponseEncoder() }
}
