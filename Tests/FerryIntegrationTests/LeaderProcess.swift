import FerryCore
import FerryTestSupport
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The real `ferry leader` binary, run as a child process.
struct LeaderProcess {
    let process: BackgroundProcess
    let dataDirectory: String
    let url: String
    /// The address it listens on (`0.0.0.0` for every one; ``url`` then names loopback).
    var host = "127.0.0.1"

    /// The cluster CA the leader made (its certificate chains to it).
    var caFile: String { "\(dataDirectory)/ca.pem" }

    var port: Int { Int(url.split(separator: ":").last ?? "0") ?? 0 }

    var token: String { ((try? String(contentsOfFile: "\(dataDirectory)/admin-token", encoding: .utf8)) ?? "").trimmingWhitespace() }
    var joinToken: String { ((try? String(contentsOfFile: "\(dataDirectory)/join-token", encoding: .utf8)) ?? "").trimmingWhitespace() }

    /// Starts a leader on `port` (0: any free one; a restart passes the old one, as an operator's
    /// fixed `--listen` would). `environment` is added to this process's (e.g. `FERRY_FAILPOINTS`).
    static func start(
        dataDirectory: String, host: String = "127.0.0.1", port: Int = 0, extraArguments: [String] = [], environment: [String: String] = [:]
    ) async throws -> LeaderProcess {
        try FileManager.default.createDirectory(atPath: dataDirectory, withIntermediateDirectories: true)
        let addressFile = "\(dataDirectory)/address"
        try? FileManager.default.removeItem(atPath: addressFile)
        let process = try BackgroundProcess.spawn(
            RepositoryLayout.ferryBinary,
            ["leader", "--data-dir", dataDirectory, "--listen", "\(host):\(port)", "--log-level", "debug"] + extraArguments,
            logPath: "\(dataDirectory)/leader.log", environment: environment)
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            if let text = try? String(contentsOfFile: addressFile, encoding: .utf8), !text.isEmpty {
                return LeaderProcess(process: process, dataDirectory: dataDirectory, url: text.trimmingWhitespace(), host: host)
            }
            if kill(process.pid, 0) != 0 { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        process.signal(SIGKILL)
        await process.wait()
        throw FerryError(.internal, "ferry leader did not start: \(process.log.suffix(2000))")
    }
}

/// Runs the `ferry` CLI.
func ferry(_ arguments: [String], environment: [String: String] = [:]) async throws -> ProcessResult {
    try await runProcess(RepositoryLayout.ferryBinary, arguments, environment: environment)
}

/// Runs a `ferry` daemon that is expected to refuse to start: killed after 60 s if it starts
/// instead (exit 137), so that a regression fails the test rather than hanging it.
func ferryRefusal(_ arguments: [String], environment: [String: String] = [:]) async throws -> ProcessResult {
    try await runProcess("/usr/bin/timeout", ["-s", "KILL", "60", RepositoryLayout.ferryBinary] + arguments, environment: environment)
}
