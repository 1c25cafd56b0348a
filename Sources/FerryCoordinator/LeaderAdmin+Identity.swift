import FerryConcurrency
import FerryCore
import FerryMesh
import FerryServer
import FerryState
import Foundation
import Logging

/// Node removal and join tokens: who may be a node.
extension LeaderAdmin {
    /// Removes a node: its credential is refused from the next request on (the credential cache
    /// is dropped), its unfinished targets fail with "node removed", the tracker forgets it and
    /// its name is free for a new join.
    func removeNode(_ name: String, force: Bool) async throws -> NodeRemovalReport {
        guard JoinRequest.isValidName(name) else {
            // Not a name a node can have (upper case, a space): the known ones, as for any other.
            let known = try await database.nodes().map(\.name)
            throw FerryError(
                .notFound,
                "no node named '\(TerminalText.escape(name, limit: 80))'; " + (known.isEmpty ? "no node has joined" : "known nodes: \(known.joined(separator: ", "))"))
        }
        let removal = try await database.removeNode(named: name, force: force, reachableWithin: MeshAPI.heartbeatInterval)
        credentials.invalidate()
        await tracker.forget(name, rechecks: true)
        logger.notice("node removed", metadata: ["node": "\(name)", "failed_targets": "\(removal.failedTargets)", "forced": "\(force)"])
        // Rollouts leave it out (one waiting on it would wait for ever; a later wave would hand
        // it a switch). The removal stands if this fails: the rollout driver leaves out nodes
        // that are no longer in the cluster at its next step.
        do {
            try await rollouts.nodeRemoved(name)
        } catch {
            logger.warning(
                "could not tell the rollouts of a node's removal now; they leave it out at their next step",
                metadata: ["node": "\(name)", "error": "\((error as? FerryError)?.message ?? "\(error)")"])
        }
        return NodeRemovalReport(name: name, failedTargets: removal.failedTargets)
    }

    func createJoinToken(_ request: JoinTokenRequest) async throws -> CreatedJoinToken {
        let request = try request.validated()
        let now = Date()
        let token = JoinToken(secret: DataDirectory.randomToken(), caFingerprint: caFingerprint)
        let record = try await database.createJoinToken(
            secretHash: LeaderCredentials.hash(token.secret), description: request.description ?? "",
            expiresAt: request.ttlSeconds.map { now.addingTimeInterval(TimeInterval($0)) }, maxUses: request.uses, now: now)
        logger.notice(
            "join token created",
            metadata: ["token_id": "\(record.id!)", "expires_at": "\(record.expiresAt.map { "\($0)" } ?? "never")", "uses": "\(record.maxUses.map { "\($0)" } ?? "unlimited")"])
        return CreatedJoinToken(token: token.description, info: Self.info(record, now: now))
    }

    func joinTokens() async throws -> JoinTokenList {
        let now = Date()
        return JoinTokenList(tokens: try await database.joinTokens().map { Self.info($0, now: now) })
    }

    func revokeJoinToken(id: Int64) async throws -> JoinTokenInfo {
        let record = try await database.revokeJoinToken(id: id)
        logger.notice("join token revoked", metadata: ["token_id": "\(id)"])
        return Self.info(record, now: Date())
    }

    static func info(_ record: JoinTokenRecord, now: Date) -> JoinTokenInfo {
        JoinTokenInfo(
            id: record.id!, description: record.description, createdAt: record.createdAt, expiresAt: record.expiresAt, uses: record.uses,
            usesLeft: record.limits.usesLeft, lastUsedAt: record.lastUsedAt, revokedAt: record.revokedAt, state: record.limits.state(at: now))
    }
}
