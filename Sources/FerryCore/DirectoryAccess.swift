#if canImport(Glibc)
import Glibc
#endif

/// Why a directory named on the command line cannot be used, in words an operator acts on.
public enum DirectoryAccess {
    /// Nil when `path` is a directory this process may read (and write, with `writing`);
    /// otherwise what is wrong ("it does not exist", "it is not a directory", a permission problem
    /// naming the owner).
    public static func problem(_ path: String, writing: Bool = false) -> String? {
        var info = stat()
        guard stat(path, &info) == 0 else {
            return errno == ENOENT ? "it does not exist" : String(cString: strerror(errno))
        }
        guard info.st_mode & S_IFMT == S_IFDIR else { return "it is not a directory" }
        guard access(path, R_OK | X_OK | (writing ? W_OK : 0)) == 0 else {
            let reason = String(cString: strerror(errno))
            return "\(reason.prefix(1).lowercased() + reason.dropFirst()): it belongs to uid \(info.st_uid) and this is uid \(geteuid()); run as that user"
        }
        return nil
    }
}
