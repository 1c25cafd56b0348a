import FerryCore
import FerryMesh
import FerryState
import Foundation
import Logging

extension LeaderService {
    /// Makes `DATA_DIR/join-token` one of the join tokens the leader accepts (no expiry, any
    /// number of uses, revocable with `ferry token revoke`), so that a leader upgraded from a
    /// release without token management keeps accepting it; a file made anew (the old one was
    /// deleted to rotate it) revokes the one it replaces.
    func adoptJoinTokenFile() async throws {
        let token = try JoinToken(parsing: joinToken)
        let (record, recorded) = try await database.adoptFileJoinToken(secretHash: LeaderCredentials.hash(token.secret))
        if recorded {
            logger.notice("recorded the join token file as a join token", metadata: ["token_id": "\(record.id ?? 0)", "file": "\(directory.joinTokenPath)"])
        } else if record.revokedAt != nil {
            logger.notice(
                "the join token file holds a revoked token: delete it and restart to have a new one made",
                metadata: ["token_id": "\(record.id ?? 0)", "file": "\(directory.joinTokenPath)"])
        }
    }
}
