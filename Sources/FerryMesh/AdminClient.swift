import AsyncHTTPClient
import FerryCore
import Foundation
import NIOCore
import NIOHTTP1

/// A client of the leader's admin API (what the CLI speaks).
public struct AdminClient: Sendable {
    public var baseURL: String { api.baseURL }
    let api: LeaderAPIClient

    /// - Parameter caFile: the cluster CA (the leader's `DATA_DIR/ca.pem`), needed for an `https://` leader.
    public init(baseURL: String, token: String, caFile: String? = nil) {
        api = LeaderAPIClient(
            baseURL: baseURL, token: token, credentialName: "admin token",
            credentialAdvice: "use the token in the leader's DATA_DIR/admin-token", caFile: caFile)
    }

    /// A client of a follower's local admin route (``collectGarbage(_:)``) with its node
    /// credential; its certificate is checked against the cluster CA only.
    public init(followerURL: String, credential: String, caFile: String?) {
        var api = LeaderAPIClient(
            baseURL: followerURL, token: credential, credentialName: "node credential",
            credentialAdvice: "use the credential in the follower's DATA_DIR/node.json", caFile: caFile)
        api.expectsLeader = false
        self.api = api
    }

    public func fetch(_ request: FetchRequest) async throws -> FetchResponse {
        try await call(.POST, AdminAPI.fetch, body: request)
    }

    public func install(_ request: InstallRequest) async throws -> InstallStatus {
        try await call(.POST, AdminAPI.installs, body: request)
    }

    public func installs() async throws -> InstallList {
        try await call(.GET, AdminAPI.installs)
    }

    public func install(id: Int64) async throws -> InstallStatus {
        try await call(.GET, AdminAPI.install(id: id))
    }

    /// The install once its ``InstallStatus/stateKey`` differs from `known`, or after `wait`
    /// (an older leader answers at once).
    public func install(id: Int64, changedFrom known: String, wait: Duration) async throws -> InstallStatus {
        let seconds = Double(wait.components.seconds) + Double(wait.components.attoseconds) / 1e18
        return try await api.call(
            .GET, "\(AdminAPI.install(id: id))?known=\(known)&wait=\(seconds)", body: Optional<Int>.none,
            timeout: wait + .seconds(30))
    }

    public func nodes() async throws -> NodeList {
        try await call(.GET, AdminAPI.nodes)
    }

    public func images() async throws -> ImageList {
        try await call(.GET, AdminAPI.images)
    }

    public func image(id: Int64) async throws -> ImageStatus {
        try await call(.GET, AdminAPI.image(id: id))
    }

    /// Collects garbage on the node this client talks to (``AdminAPI/gc``): the leader with the
    /// admin token, or a follower's local admin route with its node credential.
    public func collectGarbage(_ request: GarbageCollectionRequest) async throws -> GarbageCollectionReport {
        try await api.call(.POST, AdminAPI.gc, body: request, timeout: .seconds(600))
    }

    private func call<Response: Decodable>(_ method: HTTPMethod, _ path: String, body: (some Encodable)? = Optional<Int>.none) async throws -> Response {
        try await api.call(method, path, body: body)
    }
}
