import FerryCore
import FerryTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

extension FollowerStopTests {
    @Test("joining a leader that never answers: SIGTERM ends the follower, exit status 0")
    func duringFirstJoin() async throws {
        try await TestCluster.with("stop-join", nodes: [], engines: []) { cluster in
            // A "leader" that accepts the connection and never says a word.
            let silent = try SilentListener()
            defer { silent.close() }
            let directory = cluster.dir.sub("node-joining")
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let process = try BackgroundProcess.spawn(
                RepositoryLayout.ferryBinary,
                ["follower", "--data-dir", directory, "--listen", "127.0.0.1:0", "--leader", "https://127.0.0.1:\(silent.port)",
                 "--name", "joining", "--docker-host", "unix://\(directory)/no-docker.sock"],
                logPath: "\(directory)/follower.log", environment: ["FERRY_JOIN_TOKEN": cluster.leader.joinToken])
            // It is in its join once the listener has its connection.
            try await waitUntil("the follower to connect") { silent.acceptedConnection() }
            let status = try await Self.terminate(process)
            #expect(status == 0, "exit status \(status.map { "\($0)" } ?? "none: still running after SIGTERM")")
        }
    }
}

extension FollowerStopTests {
    /// Found while reading a slow test: the handler that ends a joining follower was dropped once
    /// it had joined, leaving SIGTERM ignored until the service group installed its own, so a
    /// follower told to stop in that moment (a service manager stopping one it had just started)
    /// ran on until SIGKILL.
    @Test("SIGTERM at any moment around the join (before, during, right after) ends the follower, exit status 0")
    func aroundTheJoin() async throws {
        try await TestCluster.with("stop-around", nodes: [], engines: []) { cluster in
            // After node.json appears: 0 to 45 ms later, where the gap lay.
            for (round, delay) in [0, 2, 5, 10, 15, 20, 30, 45].enumerated() {
                let directory = cluster.dir.sub("node-\(round)")
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
                let process = try BackgroundProcess.spawn(
                    RepositoryLayout.ferryBinary,
                    ["follower", "--data-dir", directory, "--listen", "127.0.0.1:0", "--leader", cluster.leader.url,
                     "--name", "around-\(round)", "--docker-host", "unix://\(directory)/no-docker.sock"],
                    logPath: "\(directory)/follower.log", environment: ["FERRY_JOIN_TOKEN": cluster.leader.joinToken])
                try await waitUntil("the follower holds its identity", every: .milliseconds(1)) {
                    FileManager.default.fileExists(atPath: "\(directory)/node.json")
                }
                try await Task.sleep(for: .milliseconds(delay))
                let status = try await Self.terminate(process)
                #expect(status == 0, "SIGTERM \(delay) ms after the join: exit status \(status.map { "\($0)" } ?? "none: still running")")
                let log = process.log
                #expect(log.contains("follower stopped") || log.contains("stopped before joining the leader"), "\(log.suffix(1500))")
            }
        }
    }
}

extension FollowerStopTests {
    /// Sends SIGTERM and polls, up to `bound`, for the process to exit; returns its exit status,
    /// or nil if it was still running (then it is killed).
    static func terminate(_ process: BackgroundProcess, bound: Duration = exitBound) async throws -> Int32? {
        process.signal(SIGTERM)
        var status: Int32 = 0
        var exited = false
        do {
            try await waitUntil("the follower to exit after SIGTERM", timeout: bound, every: .milliseconds(20)) {
                exited = waitpid(process.pid, &status, WNOHANG) == process.pid
                return exited
            }
        } catch is WaitTimeout {
            process.signal(SIGKILL)
            _ = await process.wait()
        }
        guard exited else { return nil }
        return status & 0x7f == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    }
}

/// A TCP listener on 127.0.0.1 that accepts connections and never reads or writes.
final class SilentListener: @unchecked Sendable {
    let port: Int
    private let descriptor: Int32
    private var accepted: [Int32] = []

    init() throws {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, length) } }
        guard bound == 0, listen(descriptor, 8) == 0 else { throw FerryError(.internal, "cannot listen: errno \(errno)") }
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) } }
        port = Int(UInt16(bigEndian: address.sin_port))
        _ = fcntl(descriptor, F_SETFL, O_NONBLOCK)
        self.descriptor = descriptor
    }

    /// Accepts a pending connection, if any; whether one was ever accepted.
    func acceptedConnection() -> Bool {
        let connection = accept(descriptor, nil, nil)
        if connection >= 0 { accepted.append(connection) }
        return !accepted.isEmpty
    }

    func close() {
        for connection in accepted { _ = Glibc.close(connection) }
        _ = Glibc.close(descriptor)
    }
}
