import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A long-running child process (a daemon under test), with its output in a log file.
///
/// Started with `posix_spawn`, not swift-subprocess: swift-subprocess hands out a running
/// execution only inside the async closure of `run`, and reaps the child itself when it exits,
/// whereas this handle is created synchronously, outlives any one scope, and its callers
/// `kill(pid, 0)` and `waitpid(pid, …, WNOHANG)` the child themselves.
public final class BackgroundProcess: Sendable {
    public let pid: pid_t
    public let logPath: String

    private init(pid: pid_t, logPath: String) {
        self.pid = pid
        self.logPath = logPath
    }

    /// Starts `executable`; stdout and stderr go to `logPath`.
    public static func spawn(_ executable: String, _ arguments: [String], logPath: String, environment: [String: String] = [:]) throws -> BackgroundProcess {
        var env = ProcessInfo.processInfo.environment
        for (key, value) in environment { env[key] = value }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, logPath, O_WRONLY | O_CREAT | O_APPEND, 0o600)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        var pid: pid_t = 0
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = env.map { strdup("\($0)=\($1)") } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        let result = posix_spawn(&pid, executable, &actions, nil, argv, envp)
        guard result == 0 else { throw POSIXError(POSIXErrorCode(rawValue: result) ?? .ENOENT) }
        return BackgroundProcess(pid: pid, logPath: logPath)
    }

    public func signal(_ signal: Int32) {
        kill(pid, signal)
    }

    /// Waits for the process to exit; returns its exit status (128+signal when killed).
    @discardableResult
    public func wait() async -> Int32 {
        let pid = self.pid
        return await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                var status: Int32 = 0
                while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
                continuation.resume(returning: status & 0x7f == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f))
            }
        }
    }

    /// SIGTERM, then SIGKILL if it has not exited within `grace`.
    public func stop(grace: Duration = .seconds(10)) async {
        signal(SIGTERM)
        let exited = Task { await self.wait() }
        let killer = Task {
            try await Task.sleep(for: grace)
            self.signal(SIGKILL)
        }
        _ = await exited.value
        killer.cancel()
    }

    public var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }
}
