import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The outcome of a finished process.
public struct ProcessResult: Sendable {
    public var status: Int32
    public var stdout: String
    public var stderr: String

    public var succeeded: Bool { status == 0 }
}

public struct SubprocessError: Error, CustomStringConvertible {
    public var command: String
    public var result: ProcessResult
    public var description: String {
        "`\(command)` exited \(result.status)\nstdout: \(result.stdout.suffix(2000))\nstderr: \(result.stderr.suffix(2000))"
    }
}

/// Runs a program to completion, capturing its output (through files, so large output cannot
/// deadlock, and daemons the program starts cannot hold a pipe open). Uses `posix_spawn` and a
/// blocking `waitpid` on a dispatch thread.
public func runProcess(
    _ executable: String,
    _ arguments: [String],
    environment: [String: String] = [:]
) async throws -> ProcessResult {
    let scratch = try TemporaryDirectory("ferry-proc")
    defer { scratch.remove() }
    let outPath = scratch.sub("stdout")
    let errPath = scratch.sub("stderr")
    var env = ProcessInfo.processInfo.environment
    for (key, value) in environment { env[key] = value }
    let argv = [executable] + arguments
    let envp = env.map { "\($0)=\($1)" }

    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, outPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    posix_spawn_file_actions_addopen(&actions, 2, errPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)

    var pid: pid_t = 0
    let spawned = withCStrings(argv) { cArgv in
        withCStrings(envp) { cEnvp in posix_spawn(&pid, executable, &actions, nil, cArgv, cEnvp) }
    }
    guard spawned == 0 else { throw POSIXError(POSIXErrorCode(rawValue: spawned) ?? .ENOENT) }
    let child = pid
    let status: Int32 = await withCheckedContinuation { continuation in
        DispatchQueue.global().async {
            var status: Int32 = 0
            while waitpid(child, &status, 0) < 0 && errno == EINTR {}
            let exited = status & 0x7f == 0
            continuation.resume(returning: exited ? (status >> 8) & 0xff : 128 + (status & 0x7f))
        }
    }
    return ProcessResult(
        status: status,
        stdout: (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? "",
        stderr: (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? "")
}

private func withCStrings<R>(_ strings: [String], _ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>) -> R) -> R {
    var pointers: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) }
    pointers.append(nil)
    defer { pointers.forEach { free($0) } }
    return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
}

/// Runs a program and throws unless it exits 0; returns its stdout.
@discardableResult
public func runChecked(_ executable: String, _ arguments: [String], environment: [String: String] = [:]) async throws -> String {
    let result = try await runProcess(executable, arguments, environment: environment)
    guard result.succeeded else {
        throw SubprocessError(command: ([executable] + arguments).joined(separator: " "), result: result)
    }
    return result.stdout
}
