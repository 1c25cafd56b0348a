import FerryCore
import Foundation

/// Which daemon a data directory belongs to, read from the files each one writes: a leader's
/// directory given to a follower (or the reverse, or a proxy's) is refused before anything in it
/// is written, instead of its CA and certificates being replaced.
extension DataDirectory {
    public enum Role: String, Sendable {
        case leader, follower
    }

    /// The files only `ferry proxy`, only a leader, and only a follower write (the proxy writes an
    /// `admin-token` too: it is checked first).
    static let proxyFiles = ["proxy.sqlite", "token-key"]
    static let leaderFiles = ["ca-key.pem", "peer-key", "admin-token"]
    static let followerFiles = ["node.json"]

    /// Refuses, reading only, the directory at `path` when another role wrote it; for a leader,
    /// also one that holds a cluster (its CA key) but not its database, or half a CA, or a CA
    /// and a key from different clusters: started anyway, it would be a new, empty cluster, or a
    /// new CA, that every node is refused by. A directory that does not exist passes.
    public static func refuseOtherRole(at path: String, role: Role) throws(FerryError) {
        func present(_ names: [String]) -> String? { names.first { FileManager.default.fileExists(atPath: "\(path)/\($0)") } }
        let other: (String, String)? =
            if let file = present(proxyFiles) {
                ("ferry proxy's", file)
            } else {
                switch role {
                case .leader: present(followerFiles).map { ("a follower's", $0) }
                case .follower: present(leaderFiles).map { ("a leader's", $0) }
                }
            }
        if let (whose, file) = other {
            throw FerryError(
                .configuration,
                "'\(path)' is \(whose) data directory (it holds \(file)): give the \(role.rawValue) a --data-dir of its own; nothing in it was changed")
        }
        guard role == .leader else { return }
        try ClusterCA.checkPair(in: path)
        guard present(["ca-key.pem"]) != nil else { return }
        let size = (try? FileManager.default.attributesOfItem(atPath: "\(path)/state.db"))?[.size] as? Int
        guard let size, size > 0 else {
            throw FerryError(
                .configuration,
                "'\(path)' holds a cluster (its CA) but \(size == nil ? "no" : "an empty") state.db: restore the data directory from a backup (`ferry leader restore`); to start a new cluster, use a new directory")
        }
    }
}
