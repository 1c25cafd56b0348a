#if canImport(Glibc)
import Glibc
#endif

/// Small files a daemon keeps to itself: tokens, keys, addresses.
public enum PrivateFile {
    /// Writes `bytes` to `file` atomically (a temporary file, fsync, rename), with `mode` from
    /// its creation whatever the umask: never readable by others, not even for a moment.
    public static func write(_ bytes: [UInt8], to file: String, mode: mode_t = 0o600) throws(FerryError) {
        let temp = file + ".tmp"
        let fd = open(temp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
        guard fd >= 0 else { throw FerryError(.configuration, "cannot write '\(file)': \(String(cString: strerror(errno)))") }
        // A temporary file left by an earlier run keeps its old mode: set it.
        fchmod(fd, mode)
        let ok = Glibc.write(fd, bytes, bytes.count) == bytes.count && fsync(fd) == 0
        close(fd)
        guard ok, rename(temp, file) == 0 else {
            unlink(temp)
            throw FerryError(.configuration, "cannot write '\(file)'")
        }
    }
}
