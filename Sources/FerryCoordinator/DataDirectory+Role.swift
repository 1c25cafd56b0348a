import FerryCore
import Foundation

/// A leader's, follower's or proxy's data directory given to another daemon is refused before
/// anything in it is written (``DataDirectoryRole``); a leader's directory that holds a cluster
/// it cannot continue is refused too.
extension DataDirectory {
    public typealias Role = DataDirectoryRole

    /// Refuses, reading only, the directory at `path` when another role wrote it; for a leader,
    /// also one that holds a cluster it cannot continue: its CA key without its database, half a
    /// CA, a CA and a key from different clusters, or CA files that cannot be read. Started
    /// anyway, it would be a new, empty cluster, or a new CA, that every node is refused by. A
    /// directory that does not exist passes.
    public static func refuseOtherRole(at path: String, role: Role) throws(FerryError) {
        try DataDirectoryRole.refuseOther(at: path, role: role)
        guard role == .leader else { return }
        _ = try ClusterCA.existingPair(in: path)
        let hasCA = DataDirectoryRole.exists("\(path)/ca-key.pem")
        // The peer key is written after the CA at the first start: a directory with it and no
        // CA lost its CA (deleted, a secrets mount not there yet).
        guard hasCA || !DataDirectoryRole.exists("\(path)/peer-key") else {
            throw FerryError(
                .configuration,
                "'\(path)' holds a leader's peer key but no cluster CA (ca.pem, ca-key.pem): restore them from a backup (`ferry leader restore`); a new CA would cut off every node")
        }
        guard hasCA else { return }
        let size = (try? FileManager.default.attributesOfItem(atPath: "\(path)/state.db"))?[.size] as? Int
        guard let size, size > 0 else {
            throw FerryError(
                .configuration,
                "'\(path)' holds a cluster (its CA) but \(size == nil ? "no" : "an empty") state.db: restore the data directory from a backup (`ferry leader restore`); to start a new cluster, use a new directory")
        }
    }
}
