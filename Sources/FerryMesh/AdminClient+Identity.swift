import FerryCore
import NIOHTTP1

extension AdminClient {
    /// Removes node `name` (``AdminAPI/node``).
    public func removeNode(_ name: String, force: Bool) async throws -> NodeRemovalReport {
        try await api.call(.DELETE, AdminAPI.node(name: name) + (force ? "?force=true" : ""))
    }

    public func createJoinToken(_ request: JoinTokenRequest) async throws -> CreatedJoinToken {
        try await api.call(.POST, AdminAPI.tokens, body: request)
    }

    public func joinTokens() async throws -> JoinTokenList {
        try await api.call(.GET, AdminAPI.tokens)
    }

    public func revokeJoinToken(id: Int64) async throws -> JoinTokenInfo {
        try await api.call(.DELETE, AdminAPI.token(id: id))
    }
}
