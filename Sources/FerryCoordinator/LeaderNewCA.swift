import FerryCore
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
        /// The join token file, rewritten with the new fingerprint.
        public var joinTokenFile: String
    }

    /// Makes a new cluster CA in the leader data directory at `path`. Refused for a directory
    /// that is not a leader's, one a running process holds, and one whose CA cannot be read.
    public static func make(dataDirectory path: String, now: Date = Date()) throws(FerryError) -> Outcome {
        guard DataDirectoryRole.exists("\(path)/state.db") else {
            throw FerryError(.configuration, "'\(path)' is not a leader's data directory (it holds no state.db): give the --data-dir of the leader")
        }
        try DataDirectoryRole.refuseOther(at: path, role: .leader)
        let directory = try DataDirectory(path)
        let lock = try directory.lock()
        defer { lock.release() }
        let (ca, kept) = try ClusterCA.replace(in: directory, now: now)
        return Outcome(fingerprint: ca.fingerprint, kept: kept, joinTokenFile: directory.joinTokenPath)
    }
}
