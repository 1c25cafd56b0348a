import Foundation
import Subprocess
import SystemPackage

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

/// Runs a program (a path, not looked up in `PATH`) to completion with swift-subprocess,
/// stdin from `/dev/null` and `environment` over this process's own. Its output is captured
/// through files, so large output cannot deadlock, and daemons the program starts cannot hold a
/// pipe open. The status is the exit code, or 128 + the signal that killed it.
public func runProcess(
    _ executable: String,
    _ arguments: [String],
    environment: [String: String] = [:]
) async throws -> ProcessResult {
    let scratch = try TemporaryDirectory("ferry-proc")
    defer { scratch.remove() }
    let outPath = scratch.sub("stdout")
    let errPath = scratch.sub("stderr")
    let out = try FileDescriptor.open(FilePath(outPath), .writeOnly, options: [.create, .truncate], permissions: [.ownerReadWrite])
    let err: FileDescriptor
    do {
        err = try FileDescriptor.open(FilePath(errPath), .writeOnly, options: [.create, .truncate], permissions: [.ownerReadWrite])
    } catch {
        try? out.close()
        throw error
    }
    var overrides: [Environment.Key: String?] = [:]
    for (key, value) in environment {
        if let key = Environment.Key(rawValue: key) { overrides[key] = value }
    }
    let result = try await Subprocess.run(
        .path(FilePath(executable)), arguments: Arguments(arguments), environment: .inherit.updating(overrides),
        input: .none,
        output: .fileDescriptor(out, closeAfterSpawningProcess: true),
        error: .fileDescriptor(err, closeAfterSpawningProcess: true))
    let status: Int32 =
        switch result.terminationStatus {
        case .exited(let code): code
        case .signaled(let signal): 128 + signal
        }
    return ProcessResult(
        status: status,
        stdout: (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? "",
        stderr: (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? "")
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
