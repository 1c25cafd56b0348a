import FerryCore
import FerryMesh
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// What the admin API asks of the leader.
public protocol AdminBackend: Sendable {
    func fetch(_ request: FetchRequest) async throws -> FetchResponse
    func images() async throws -> ImageList
    func image(id: Int64) async throws -> ImageStatus?
    func install(_ request: InstallRequest) async throws -> InstallStatus
    func installs() async throws -> InstallList
    func install(id: Int64) async throws -> InstallStatus?
    /// The install once its ``InstallStatus/stateKey`` differs from `known`, or after `wait`.
    func install(id: Int64, changedFrom known: String, wait: Duration) async throws -> InstallStatus?
    func nodes() async throws -> NodeList
    /// Removes a node (``AdminAPI/node``).
    func removeNode(_ name: String, force: Bool) async throws -> NodeRemovalReport
    /// Join tokens (``AdminAPI/tokens``): made, listed, revoked.
    func createJoinToken(_ request: JoinTokenRequest) async throws -> CreatedJoinToken
    func joinTokens() async throws -> JoinTokenList
    func revokeJoinToken(id: Int64) async throws -> JoinTokenInfo
    /// Collects garbage on the leader (``AdminAPI/gc``).
    func collectGarbage(_ request: GarbageCollectionRequest) async throws -> GarbageCollectionReport
    /// Rollouts (``AdminAPI/rollouts``): created, listed, shown, controlled.
    func createRollout(_ request: RolloutRequest) async throws -> RolloutStatus
    func rollouts() async throws -> RolloutList
    func rollout(id: String) async throws -> RolloutStatus?
    func controlRollout(id: String, _ control: RolloutControl) async throws -> RolloutStatus
}

/// The admin API (``AdminAPI``): JSON, admin token only (``AdminRequestContext``).
public struct AdminRoutes: Sendable {
    let backend: any AdminBackend

    public init(backend: any AdminBackend) { self.backend = backend }

    public func addRoutes(to router: Router<FerryRequestContext>) {
        let admin = router.group(context: AdminRequestContext.self)
        admin.post(RouterPath(AdminAPI.fetch)) { request, context in
            EditedResponse(status: .accepted, response: try await backend.fetch(try await request.decode(as: FetchRequest.self, context: context)))
        }
        admin.get(RouterPath(AdminAPI.images)) { _, _ in try await backend.images() }
        admin.get(RouterPath(AdminAPI.image)) { _, context in
            let id = try Self.id(context, "image")
            guard let status = try await backend.image(id: id) else { throw FerryError(.notFound, "no image with id \(id)") }
            return status
        }
        admin.post(RouterPath(AdminAPI.installs)) { request, context in
            EditedResponse(status: .accepted, response: try await backend.install(try await request.decode(as: InstallRequest.self, context: context)))
        }
        admin.get(RouterPath(AdminAPI.installs)) { _, _ in try await backend.installs() }
        admin.get(RouterPath(AdminAPI.install)) { request, context in
            let id = try Self.id(context, "install")
            let query = request.uri.queryParameters
            let status: InstallStatus?
            if let known = query.get("known") {
                status = try await backend.install(id: id, changedFrom: known, wait: try Self.wait(query.get("wait")))
            } else {
                status = try await backend.install(id: id)
            }
            guard let status else { throw FerryError(.notFound, "no install with id \(id)") }
            return status
        }
        admin.get(RouterPath(AdminAPI.nodes)) { _, _ in try await backend.nodes() }
        admin.delete(RouterPath(AdminAPI.node)) { request, context in
            guard let name = context.parameters.get("name") else { throw FerryError(.invalidArgument, "no node name given") }
            return try await backend.removeNode(name, force: request.uri.queryParameters.get("force") == "true")
        }
        admin.post(RouterPath(AdminAPI.tokens)) { request, context in
            EditedResponse(
                status: .created,
                response: try await backend.createJoinToken(try await request.decode(as: JoinTokenRequest.self, context: context).validated()))
        }
        admin.get(RouterPath(AdminAPI.tokens)) { _, _ in try await backend.joinTokens() }
        admin.delete(RouterPath(AdminAPI.token)) { _, context in
            try await backend.revokeJoinToken(id: try Self.id(context, "join token"))
        }
        admin.post(RouterPath(AdminAPI.gc)) { request, context in
            try await backend.collectGarbage(try await request.decode(as: GarbageCollectionRequest.self, context: context).validated())
        }
        addRolloutRoutes(to: admin)
    }

    /// The rollout routes (``AdminAPI/rollouts``).
    private func addRolloutRoutes(to admin: RouterGroup<AdminRequestContext>) {
        admin.post(RouterPath(AdminAPI.rollouts)) { request, context in
            EditedResponse(status: .accepted, response: try await backend.createRollout(try await request.decode(as: RolloutRequest.self, context: context)))
        }
        admin.get(RouterPath(AdminAPI.rollouts)) { _, _ in try await backend.rollouts() }
        admin.get(RouterPath(AdminAPI.rollout)) { _, context in
            let id = try Self.rolloutID(context)
            guard let status = try await backend.rollout(id: id) else {
                throw FerryError(.notFound, "no rollout with ID '\(id)'; `ferry rollout status` lists them")
            }
            return status
        }
        for control in RolloutControl.allCases {
            admin.post(RouterPath(AdminAPI.rollout + "/" + control.rawValue)) { _, context in
                try await backend.controlRollout(id: try Self.rolloutID(context), control)
            }
        }
    }

    /// The route's rollout `{id}` (quoted back only once it is known to be harmless).
    static func rolloutID(_ context: some RequestContext) throws -> String {
        guard let id = context.parameters.get("id"), id.count <= 64, id.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }) else {
            throw FerryError(.notFound, "no rollout with that ID; `ferry rollout status` lists them")
        }
        return id
    }

    /// The route's `{id}`, or `INVALID_ARGUMENT` naming what it identifies.
    /// A long poll's `wait` in seconds (fractions allowed), at most ``AdminAPI/maxInstallWait``;
    /// absent: no wait.
    static func wait(_ text: String?) throws -> Duration {
        guard let text else { return .zero }
        guard let seconds = Double(text), seconds.isFinite, seconds >= 0 else {
            throw FerryError(.invalidArgument, "invalid wait '\(text)': expected seconds, e.g. 0.2 or 30")
        }
        let most = Double(AdminAPI.maxInstallWait.components.seconds)
        return .milliseconds(Int64(min(seconds, most) * 1000))
    }

    static func id(_ context: some RequestContext, _ what: String) throws -> Int64 {
        guard let id = context.parameters.get("id", as: Int64.self) else { throw FerryError(.invalidArgument, "\(what) id must be an integer") }
        return id
    }
}
