import FerryCore
import FerryDiagnostics
import FerryMesh
import FerryState
import FerryStore
import Foundation
import Hummingbird
import Logging
import NIOCore

/// Builds the router of a Ferry node: `/healthz` (open), then, behind the token check, the
/// registry read API and, on the leader, the admin API (on a follower, its local admin route).
/// Unknown routes answer a registry-style JSON 404.
public func buildFerryRouter(
    verifier: any CredentialVerifier,
    registry: RegistryReadAPI,
    admin: AdminRoutes?,
    mesh: MeshRoutes? = nil,
    local: LocalAdminRoutes? = nil,
    revocations: CertificateRevocations? = nil
) -> Router<FerryRequestContext> {
    let router = Router(context: FerryRequestContext.self)
    router.add(middleware: ErrorMiddleware())
    router.get("/healthz") { _, _ in "ok\n" }
    router.add(middleware: TokenAuthMiddleware(verifier: verifier, revocations: revocations))
    registry.addRoutes(to: router)
    admin?.addRoutes(to: router)
    mesh?.addRoutes(to: router)
    local?.addRoutes(to: router)
    MetricsExport.addRoute(to: router)
    FerryMetrics.registerCounters()
    return router
}

/// The APIs a node of each role serves besides `/healthz`, the registry read API and `/metrics`.
public enum FerryNodeAPIs: Sendable {
    /// The admin API and the coordination API.
    case leader(admin: AdminRoutes, mesh: MeshRoutes)
    /// The follower's local admin route.
    case follower(local: LocalAdminRoutes)
}

/// The router of a leader or a follower: ``buildFerryRouter(verifier:registry:admin:mesh:local:revocations:)``
/// with the APIs of its role; `revocations` (a follower's) refuses clients presenting a revoked certificate.
public func buildFerryRouter(
    verifier: any CredentialVerifier, registry: RegistryReadAPI, apis: FerryNodeAPIs, revocations: CertificateRevocations? = nil
) -> Router<FerryRequestContext> {
    switch apis {
    case .leader(let admin, let mesh): buildFerryRouter(verifier: verifier, registry: registry, admin: admin, mesh: mesh, revocations: revocations)
    case .follower(let local): buildFerryRouter(verifier: verifier, registry: registry, admin: nil, local: local, revocations: revocations)
    }
}

/// Registry-style error bodies for what handlers do not answer themselves: Hummingbird's bare 404
/// for unknown routes, and a database that cannot write (a full disk: 507 saying what to do,
/// instead of an empty 500). Every other error that is not an HTTP error is logged and goes on.
public struct ErrorMiddleware: RouterMiddleware {
    public typealias Context = FerryRequestContext

    public init() {}

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError where error.status == .notFound {
            throw FerryError(.notFound, "no such route: \(request.method) \(request.uri.path.prefix(200))")
        } catch let error as any HTTPResponseError {
            throw error
        } catch let error as CancellationError {
            throw error
        } catch {
            // Anything but the database's goes on as it was (a body cut short or badly framed
            // closes the connection).
            throw Self.logged(error, of: request, logger: context.logger) ?? error
        }
    }

    /// Logs an error no handler answered (a database error at `error`, a client that went away
    /// at `debug`, anything else at `warning`) and returns the database's as a ``FerryError``.
    /// A database error of the same code is logged at `error` once per 30 s (with how many
    /// recurred meanwhile), the others at `debug`: a full disk fails every request until it is
    /// freed.
    public static func logged(_ error: any Error, of request: Request, logger: Logger) -> FerryError? {
        let database = FerryError(database: error)
        var level: Logger.Level = database != nil ? .error : (error is IOError || error is ChannelError) ? .debug : .warning
        var metadata: Logger.Metadata = ["method": "\(request.method)", "path": "\(request.uri.path.prefix(200))", "error": "\(error)"]
        if let database {
            metadata["code"] = "\(database.code)"
            if let suppressed = databaseErrors.admit("\(database.code.rawValue) \(database.message.prefix(80))") {
                if suppressed > 0 { metadata["recurred"] = "\(suppressed)" }
            } else {
                level = .debug
            }
        }
        logger.log(level: level, "request failed", metadata: metadata)
        return database
    }

    /// Database errors logged at `error`: one per code every 30 s.
    static let databaseErrors = LogThrottle()
}

/// The role of a Ferry node.
public enum FerryRole: String, CaseIterable, Codable, Sendable {
    case leader
    case follower
}

/// The routes a node's router serves, as the router itself lists them (`ferry routes`), so that
/// tests enumerate the routes of the real router rather than a copy of the list that could fall
/// behind.
public enum FerryRoutes {
    /// One route: its method and its path pattern, captures as `{name}`, wildcards as `*`/`**`.
    public struct Route: Codable, Hashable, Comparable, Sendable, CustomStringConvertible {
        public var method: String
        public var path: String

        public init(method: String, path: String) {
            self.method = method
            self.path = path
        }

        /// `METHOD PATH`.
        public var description: String { "\(method) \(path)" }

        public static func < (lhs: Route, rhs: Route) -> Bool { lhs.description < rhs.description }
    }

    /// Every route of `router`, sorted.
    public static func list(_ router: Router<FerryRequestContext>) -> [Route] {
        router.routes.map { Route(method: "\($0.method)", path: "\($0.path)") }.sorted()
    }

    /// Every route a node of `role` serves: its router as ``buildFerryRouter(verifier:registry:apis:)``
    /// builds it for the daemon of that role, here over an empty in-memory database, an empty
    /// store in a scratch directory (removed before returning) and backends that are never called.
    public static func list(for role: FerryRole) throws -> [Route] {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("ferry-routes-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let registry = RegistryReadAPI(database: try .inMemory(), store: try BlobStore(root: scratch), defaultRegistry: nil)
        let apis: FerryNodeAPIs =
            switch role {
            case .leader: .leader(admin: AdminRoutes(backend: Unserved()), mesh: MeshRoutes(backend: Unserved()))
            case .follower: .follower(local: LocalAdminRoutes(backend: Unserved()))
            }
        return list(buildFerryRouter(verifier: Unserved(), registry: registry, apis: apis))
    }
}

/// The backends of a router that only lists its routes: no one is let in, nothing is served.
private struct Unserved: CredentialVerifier, AdminBackend, MeshBackend, LocalAdminBackend {
    private var error: FerryError { FerryError(.internal, "this router only lists its routes") }

    func principal(forToken token: String) async -> Principal? { nil }
    func fetch(_ request: FetchRequest) async throws -> FetchResponse { throw error }
    func images() async throws -> ImageList { throw error }
    func image(id: Int64) async throws -> ImageStatus? { throw error }
    func install(_ request: InstallRequest) async throws -> InstallStatus { throw error }
    func installs() async throws -> InstallList { throw error }
    func install(id: Int64) async throws -> InstallStatus? { throw error }
    func install(id: Int64, changedFrom known: String, wait: Duration) async throws -> InstallStatus? { throw error }
    func nodes() async throws -> NodeList { throw error }
    func collectGarbage(_ request: GarbageCollectionRequest) async throws -> GarbageCollectionReport { throw error }
    func join(_ request: JoinRequest, token: Int64?) async throws -> JoinResponse { throw error }
    func removeNode(_ name: String, force: Bool) async throws -> NodeRemovalReport { throw error }
    func createJoinToken(_ request: JoinTokenRequest) async throws -> CreatedJoinToken { throw error }
    func joinTokens() async throws -> JoinTokenList { throw error }
    func revokeJoinToken(id: Int64) async throws -> JoinTokenInfo { throw error }
    func heartbeat(node: Int64, _ heartbeat: Heartbeat) async throws -> HeartbeatResponse { throw error }
    func sources(node: Int64, _ request: SourceRequest) async throws -> SourceList { throw error }
    func sources(node: Int64, batch: SourceBatch) async throws -> SourceBatchAnswer { throw error }
    func blobEvents(node: Int64, _ events: BlobEvents) async throws { throw error }
    func work(node: Int64, wait: Duration, known: Set<Int64>, switches: Set<String>, halts: Bool) async throws -> WorkResponse { throw error }
    func switchReport(node: Int64, rollout: String, _ report: SwitchReport) async throws { throw error }
    func createRollout(_ request: RolloutRequest) async throws -> RolloutStatus { throw error }
    func rollouts() async throws -> RolloutList { throw error }
    func rollout(id: String) async throws -> RolloutStatus? { throw error }
    func controlRollout(id: String, _ control: RolloutControl) async throws -> RolloutStatus { throw error }
    func report(node: Int64, target: Int64, _ report: TargetReport) async throws { throw error }
    func requestLoad(node: Int64, target: Int64, wait: Duration) async throws -> LoadPermit { throw error }
    func renewCertificate(node: Int64, _ request: CertificateRequest) async throws -> CertificateResponse { throw error }
}
