import FerryCore
import FerryState
import Foundation

/// `ferry leader new-ca`: a new cluster CA for a stopped leader's data directory
/// (``ClusterCA/replace(in:now:)``), for a CA near its expiry or node certificates to be rid of.
public enum LeaderNewCA {
    /// What was made.
    public struct Outcome: Sendable, Hashable {
        /// The new CA's fingerprint: what join tokens carry.
        public var fingerprint: String
        /// Where the old CA's files were kept.
        public var kept: [String]
        /// The join token file, with a new secret under the new fingerprint.
        public var joinTokenFile: String
        /// How many join tokens made with `ferry token create` were revoked.
        public var revokedTokens: Int
    }

    /// Makes a new cluster CA in the leader data directory at `path`, and revokes every join
    /// token (a token's fingerprint is public: with the new one, an old secret would still join).
    /// Refused for a directory that is not a leader's, one a running process holds, and one
    /// whose CA cannot be read.
    public static func make(dataDirectory path: String, now: Date = Date()) async throws -> Outcome {
        guard DataDirectoryRole.exists("\(path)/state.db") else {
            throw FerryError(.configuration, "'\(path)' is not a leader's data directory (it holds no state.db): give the --data-dir of the leader")
        }
        try DataDirectoryRole.refuseOther(at: path, role: .leader)
        let directory = try DataDirectory(path)
        let lock = try directory.lock()
        defer { lock.release() }
        let database = try FerryDatabase.open(path: directory.databasePath)
        // Revoked first: a new-ca that stops after it is simply run again.
        var revoked = 0
        for token in try await database.joinTokens() where token.revokedAt == nil {
            _ = try await database.revokeJoinToken(id: token.id!, now: now)
            revoked += 1
        }
        let (ca, kept) = try ClusterCA.replace(in: directory, now: now)
        return Outcome(fingerprint: ca.fingerprint, kept: kept, joinTokenFile: directory.joinTokenPath, revokedTokens: revoked)
    }
}
