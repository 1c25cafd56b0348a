import FerryCore
import FerryMesh
import Hummingbird

/// What a follower's local admin route asks of the follower.
public protocol LocalAdminBackend: Sendable {
    /// Collects garbage in the follower's store (``AdminAPI/gc``).
    func collectGarbage(_ request: GarbageCollectionRequest) async throws -> GarbageCollectionReport
}

/// A follower's local admin route: ``AdminAPI/gc`` for the holder of the node's own credential
/// (`DATA_DIR/node.json`, mode 0600: whoever runs the follower). Peers and anyone else are refused.
///
/// Collection runs inside the follower because only the running process knows which blobs are
/// being written, read or leased by install targets at this moment.
public struct LocalAdminRoutes: Sendable {
    let backend: any LocalAdminBackend

    public init(backend: any LocalAdminBackend) { self.backend = backend }

    public func addRoutes(to router: Router<FerryRequestContext>) {
        router.group(context: LocalAdminRequestContext.self).post(RouterPath(AdminAPI.gc)) { request, context in
            try await backend.collectGarbage(try await request.decode(as: GarbageCollectionRequest.self, context: context).validated())
        }
    }
}

/// The context of a follower's local admin route: the node's own credential only.
struct LocalAdminRequestContext: ChildRequestContext {
    var coreContext: CoreRequestContextStorage

    init(context: FerryRequestContext) throws {
        guard context.principal?.nodeID != nil else {
            throw FerryError(.denied, "a follower's admin route needs its own node credential (DATA_DIR/node.json)")
        }
        self.coreContext = context.coreContext
    }

    var requestDecoder: FerryRequestDecoder { FerryRequestDecoder() }
    var responseEncoder: FerryResponseEncoder { FerryResponseEncoder() }
}

extension GarbageCollectionRequest {
    /// The request, or `INVALID_ARGUMENT` for a `keep` below 1.
    func validated() throws(FerryError) -> GarbageCollectionRequest {
        if let keep, keep < 1 {
            throw FerryError(.invalidArgument, "keep must be at least 1 (the number of versions of each repository to keep)")
        }
        return self
    }
}
