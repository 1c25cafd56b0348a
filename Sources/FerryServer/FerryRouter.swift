import FerryCore
import FerryState
import FerryStore
import Hummingbird
import NIOCore

/// Builds the router of a Ferry node: `/healthz` (open), then, behind the token check, the
/// registry read API and, on the leader, the admin API (on a follower, its local admin route).
/// Unknown routes answer a registry-style JSON 404.
public func buildFerryRouter(
    verifier: any CredentialVerifier,
    registry: RegistryReadAPI,
    admin: AdminRoutes?,
    mesh: MeshRoutes? = nil,
    local: LocalAdminRoutes? = nil
) -> Router<FerryRequestContext> {
    let router = Router(context: FerryRequestContext.self)
    router.add(middleware: NotFoundMiddleware())
    router.get("/healthz") { _, _ in "ok\n" }
    router.add(middleware: TokenAuthMiddleware(verifier: verifier))
    registry.addRoutes(to: router)
    admin?.addRoutes(to: router)
    mesh?.addRoutes(to: router)
    local?.addRoutes(to: router)
    MetricsExport.addRoute(to: router)
    return router
}

/// Turns Hummingbird's bare 404 for unknown routes into a registry-style error body.
struct NotFoundMiddleware: RouterMiddleware {
    typealias Context = FerryRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError where error.status == .notFound {
            throw FerryError(.notFound, "no such route: \(request.method) \(request.uri.path.prefix(200))")
        }
    }
}
