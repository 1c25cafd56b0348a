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
        let ok = bytes.withUnsafeBytes { writeAll(fd, $0) } == 0 && fsync(fd) == 0
        close(fd)
        guard ok, rename(temp, file) == 0 else {
            unlink(temp)
            throw FerryError(.configuration, "cannot write '\(file)'")
        }
    }

    /// Writes all of `bytes` to `fd`, going on after a short write (a nearly full disk takes
    /// part of a write, and says why only at the next one); 0, or the `errno` of the write that
    /// failed (a short write sets none: reading `errno` after it gave a stale reason).
    public static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) -> Int32 {
        var offset = 0
        while offset < bytes.count {
            let written = Glibc.write(fd, bytes.baseAddress! + offset, bytes.count - offset)
            if written < 0 {
                if errno == EINTR { continue }
                return errno
            }
            if written == 0 { return ENOSPC }
            offset += written
        }
        return 0
    }
}
