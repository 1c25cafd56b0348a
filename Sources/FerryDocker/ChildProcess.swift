import FerryCore
import Foundation

#if canImport(Glibc)
import Glibc
#endif

private typealias CloseFromAction = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, CInt) -> CInt

/// glibc's `posix_spawn_file_actions_addclosefrom_np`, when the C library has it.
private let closeFromAction: CloseFromAction? = {
    guard let symbol = dlsym(nil, "posix_spawn_file_actions_addclosefrom_np") else { return nil }
    return unsafeBitCast(symbol, to: CloseFromAction.self)
}()

/// A child process with its stdin, stdout and stderr on socket pairs (the parent's ends close-on-exec).
struct ChildProcess: Sendable {
    let pid: pid_t
    /// The parent's ends: write to `stdin`, read `stdout` and `stderr`.
    let stdin: CInt
    let stdout: CInt
    let stderr: CInt

    static func spawn(_ executable: String, _ arguments: [String]) throws(FerryError) -> ChildProcess {
        // Socket pairs rather than pipes: they can be created close-on-exec atomically
        // (pipe2 is not visible to Swift), so no other child started meanwhile inherits them.
        func makePipe() throws(FerryError) -> (read: CInt, write: CInt) {
            var fds: [CInt] = [0, 0]
            guard socketpair(AF_UNIX, CInt(SOCK_STREAM.rawValue) | CInt(SOCK_CLOEXEC.rawValue), 0, &fds) == 0 else {
                throw FerryError(.internal, "cannot create a socket pair: \(String(cString: strerror(errno)))")
            }
            return (fds[0], fds[1])
        }
        let input = try makePipe()
        let output = try makePipe()
        let errors = try makePipe()
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, input.read, 0)
        posix_spawn_file_actions_adddup2(&actions, output.write, 1)
        posix_spawn_file_actions_adddup2(&actions, errors.write, 2)
        // Descriptors other code opened without close-on-exec (connections, listeners) must not
        // stay open in the child: glibc 2.34+ closes them all, looked up at run time because
        // Swift's Glibc module does not declare it.
        if let closeFrom = closeFromAction {
            _ = closeFrom(&actions, 3)
        }
        // The child starts with no blocked signals and SIGPIPE at its default, whatever the
        // spawning thread (often a NIO event loop thread) had.
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        sigaddset(&defaults, SIGPIPE)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var pid: pid_t = 0
        let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        let result = posix_spawn(&pid, executable, &actions, &attributes, argv, environ)
        for fd in [input.read, output.write, errors.write] { close(fd) }
        guard result == 0 else {
            for fd in [input.write, output.read, errors.read] { close(fd) }
            throw FerryError(.unsupported, "cannot run \(executable): \(String(cString: strerror(result)))")
        }
        _ = fcntl(errors.read, F_SETFL, O_NONBLOCK)
        return ChildProcess(pid: pid, stdin: input.write, stdout: output.read, stderr: errors.read)
    }

    func kill() {
        _ = Glibc.kill(pid, SIGKILL)
    }

    /// Waits for the exit without blocking the cooperative pool; 128+signal when killed.
    func wait() async -> Int32 {
        let pid = self.pid
        return await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                var status: Int32 = 0
                while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
                continuation.resume(returning: status & 0x7f == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f))
            }
        }
    }

    /// What the process wrote to stderr (up to 4 KiB, trimmed); closes the pipe.
    func readStderr() -> String {
        var bytes = [UInt8](repeating: 0, count: 4096)
        var count = 0
        while count < bytes.count {
            let n = bytes.withUnsafeMutableBytes { read(stderr, $0.baseAddress! + count, $0.count - count) }
            if n <= 0 { break }
            count += n
        }
        close(stderr)
        return String(decoding: bytes[..<count], as: UTF8.self).trimmingWhitespace().replacingOccurrences(of: "\n", with: "; ")
    }
}
