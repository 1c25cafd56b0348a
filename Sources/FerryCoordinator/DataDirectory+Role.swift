import FerryCore
import Foundation

/// Which daemon a data directory belongs to, read from the files each one writes: a leader's
/// directory given to a follower (or the reverse, or a proxy's) is refused before anything in it
/// is written, instead of its CA and certificates being replaced.
extension DataDirectory {
    public enum Role: String, Sendable {
        case leader, follower
    }

    /// The files only a leader, only a follower, and only `ferry proxy` write.
    static let leaderFiles = ["ca-key.pem", "admin-token", "peer-key"]
    static let followerFiles = ["node.json"]
    static let proxyFiles = ["proxy.sqlite", "token-key"]

    /// Refuses a directory another role wrote (checked by ``init(_:role:logger:)`` before anything
    /// in it is touched); for a leader, also one that holds a cluster (its CA
    /// key) but not its database: started anyway, it would be a new, empty cluster under the old
    /// CA, every node refused (the database lost, or the wrong directory given).
    public func claim(as role: Role) throws(FerryError) {
        func present(_ names: [String]) -> String? { names.first { FileManager.default.fileExists(atPath: "\(path)/\($0)") } }
        let other: (String, String)? =
            switch role {
            case .leader: present(Self.followerFiles).map { ("a follower's", $0) } ?? present(Self.proxyFiles).map { ("ferry proxy's", $0) }
            case .follower: present(Self.leaderFiles).map { ("a leader's", $0) } ?? present(Self.proxyFiles).map { ("ferry proxy's", $0) }
            }
        if let (whose, file) = other {
            throw FerryError(
                .configuration,
                "'\(path)' is \(whose) data directory (it holds \(file)): give the \(role.rawValue) a --data-dir of its own; nothing in it was changed")
        }
        guard role == .leader, present(["ca-key.pem"]) != nil else { return }
        let size = (try? FileManager.default.attributesOfItem(atPath: databasePath))?[.size] as? Int
        guard let size, size > 0 else {
            throw FerryError(
                .configuration,
                "'\(path)' holds a cluster (its CA) but \(size == nil ? "no" : "an empty") state.db: restore the data directory from a backup (`ferry leader restore`); to start a new cluster, use a new directory")
        }
    }
}
