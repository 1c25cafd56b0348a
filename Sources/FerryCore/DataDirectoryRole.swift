import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Which daemon a data directory belongs to, read from the files each one writes: one daemon's
/// directory given to another (a copy-pasted `--data-dir`) is refused, reading only, before
/// anything in it is written; its CA, certificates, tokens and store stay the other's.
public enum DataDirectoryRole: String, Sendable, CaseIterable {
    case leader, follower
    case proxy = "ferry proxy"

    /// The files only this role writes (the proxy writes an `admin-token` too, like a leader, so
    /// that one is a leader's mark only where no proxy file is found first).
    var marks: [String] {
        switch self {
        case .proxy: ["proxy.sqlite", "token-key"]
        case .leader: ["ca-key.pem", "peer-key", "admin-token"]
        case .follower: ["node.json"]
        }
    }

    /// The role whose files are in `path` other than `role`, and the file that shows it; nil for
    /// a directory of `role`'s, a new one or one that does not exist.
    public static func owner(of path: String, other role: DataDirectoryRole) -> (role: DataDirectoryRole, file: String)? {
        for candidate in [DataDirectoryRole.proxy, .leader, .follower] {
            // A proxy's admin-token is its own: only the leader's other files mark a leader there.
            let marks = role == .proxy && candidate == .leader ? ["ca-key.pem", "peer-key"] : candidate.marks
            if let file = marks.first(where: { exists("\(path)/\($0)") }) {
                return candidate == role ? nil : (candidate, file)
            }
        }
        return nil
    }

    /// Refuses `path` when another role's files are in it.
    public static func refuseOther(at path: String, role: DataDirectoryRole) throws(FerryError) {
        guard let (owner, file) = owner(of: path, other: role) else { return }
        let whose = owner == .proxy ? "ferry proxy's" : "a \(owner.rawValue)'s"
        throw FerryError(
            .configuration,
            "'\(path)' is \(whose) data directory (it holds \(file)): give the \(role.rawValue) a --data-dir of its own; nothing in it was changed")
    }

    /// Whether an entry is at `path`, even a link to nothing or one this user cannot read.
    public static func exists(_ path: String) -> Bool {
        var info = stat()
        return lstat(path, &info) == 0
    }
}
