import FerryCore
import FerryState
import FerryStore
import Foundation
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

/// The routes a node's router serves, as the router itself lists them. Each daemon logs them at
/// debug level when it starts (`routes: GET /healthz, HEAD /v2, …`), so that tests enumerate the
/// routes of the real process rather than a copy of the list that could fall behind.
public enum FerryRoutes {
    /// What the log line starts with; the list follows to the end of the line.
    public static let logPrefix = "routes: "

    /// `METHOD PATH` for every route, comma-separated, captures as `{name}`, wildcards as `*`/`**`.
    public static func describe(_ router: Router<FerryRequestContext>) -> String {
        router.routes.map { "\($0.method) \($0.path)" }.sorted().joined(separator: ", ")
    }

    /// The `(method, path pattern)` pairs of the last route list in `log` (see ``describe(_:)``).
    public static func parse(log: String) -> [(method: String, path: String)] {
        guard let line = log.split(separator: "\n").last(where: { $0.contains(logPrefix) }),
            let start = line.range(of: logPrefix)?.upperBound
        else { return [] }
        return line[start...].split(separator: ",").compactMap { entry in
            let parts = entry.trimmingCharacters(in: .whitespaces).split(separator: " ", maxSplits: 1)
            return parts.count == 2 ? (String(parts[0]), String(parts[1])) : nil
        }
    }
}
