import NIOHTTP1
import FerryCore

extension AdminClient {
    /// Starts a rollout (``AdminAPI/rollouts``).
    public func createRollout(_ request: RolloutRequest) async throws -> RolloutStatus {
        try await api.call(.POST, AdminAPI.rollouts, body: request)
    }

    /// Every rollout, newest first.
    public func rollouts() async throws -> RolloutList {
        try await api.call(.GET, AdminAPI.rollouts, body: Optional<Int>.none)
    }

    public func rollout(id: String) async throws -> RolloutStatus {
        try await api.call(.GET, AdminAPI.rollout(id: id), body: Optional<Int>.none)
    }

    /// Pauses, resumes, aborts or rolls back rollout `id`.
    public func controlRollout(id: String, _ control: RolloutControl) async throws -> RolloutStatus {
        try await api.call(.POST, AdminAPI.rollout(id: id, control), body: Optional<Int>.none)
    }
}
