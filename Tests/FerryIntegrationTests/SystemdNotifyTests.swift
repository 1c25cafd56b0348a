import FerryCore
import FerryTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `Type=notify`: the daemon tells systemd through `NOTIFY_SOCKET` that it is ready, and that it stops.
@Suite("systemd notification", .serialized)
struct SystemdNotifyTests {
    /// A unix datagram socket standing in for systemd's notification socket.
    final class NotifySocket: @unchecked Sendable {
        let descriptor: Int32
        /// What `NOTIFY_SOCKET` says: a path, or `@name` for an abstract socket.
        let name: String

        init(name: String) throws {
            self.name = name
            descriptor = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard descriptor >= 0 else { throw FerryError(.internal, "socket: \(errno)") }
            var path = Array(name.utf8)
            if path.first == UInt8(ascii: "@") { path[0] = 0 }
            var address = sockaddr_un()
            address.sun_family = sa_family_t(AF_UNIX)
            withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: path) }
            let length = socklen_t(MemoryLayout<sockaddr_un>.offset(of: \.sun_path)! + path.count + (path.first == 0 ? 0 : 1))
            let bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, length) }
            }
            guard bound == 0 else { throw FerryError(.internal, "bind \(name): \(errno)") }
        }

        deinit { close(descriptor) }

        /// The next datagram, if one waits.
        func receive() -> String? {
            var buffer = [UInt8](repeating: 0, count: 4096)
            let count = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
            return count > 0 ? String(decoding: buffer[..<count], as: UTF8.self) : nil
        }

        /// Waits for a datagram with the line `line`; returns the datagram.
        func waitFor(line: String) async throws -> String {
            var found: String?
            try await waitUntil("\(line) on \(name)") {
                while let message = receive() {
                    if message.split(separator: "\n").contains(Substring(line)) {
                        found = message
                        return true
                    }
                }
                return false
            }
            return found!
        }
    }

    @Test("READY=1 once the leader answers, STOPPING=1 on SIGTERM", arguments: ["path", "abstract"])
    func leaderNotifies(kind: String) async throws {
        try await withTemporaryDirectory("notify") { dir in
            let name = kind == "path" ? dir.sub("notify.sock") : "@ferry-test-notify-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
            let notify = try NotifySocket(name: name)
            let data = dir.sub("leader")
            try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)
            let process = try BackgroundProcess.spawn(
                RepositoryLayout.ferryBinary, ["leader", "--data-dir", data, "--listen", "127.0.0.1:0"],
                logPath: dir.sub("leader.log"), environment: ["NOTIFY_SOCKET": name])
            do {
                let ready = try await notify.waitFor(line: "READY=1")
                // By the time it says ready, the port answers (the URL is in the status line).
                let status = ready.split(separator: "\n").first { $0.hasPrefix("STATUS=listening on ") }
                let url = try #require(status?.dropFirst("STATUS=listening on ".count))
                let port = try #require(Int(url.split(separator: ":").last ?? ""))
                #expect(Self.connects(port: port), "READY=1 before the port answered")
                process.signal(SIGTERM)
                _ = try await notify.waitFor(line: "STOPPING=1")
                #expect(await process.wait() == 0, "\(process.log.suffix(2000))")
            } catch {
                await process.stop()
                throw error
            }
        }
    }

    @Test("ferry proxy serve runs from --config FILE: READY=1 once it answers, STOPPING=1 on SIGTERM")
    func proxyNotifies() async throws {
        try await withTemporaryDirectory("notify-proxy") { dir in
            let name = dir.sub("notify.sock")
            let notify = try NotifySocket(name: name)
            let config = dir.sub("proxy.toml")
            try "data-dir = \"\(dir.sub("proxy"))\"\nlisten = \"127.0.0.1:0\"\nlog-format = \"json\"\n".write(toFile: config, atomically: true, encoding: .utf8)
            let process = try BackgroundProcess.spawn(
                RepositoryLayout.ferryBinary, ["proxy", "serve", "--config", config], logPath: dir.sub("proxy.log"), environment: ["NOTIFY_SOCKET": name])
            do {
                let ready = try await notify.waitFor(line: "READY=1")
                let status = ready.split(separator: "\n").first { $0.hasPrefix("STATUS=listening on ") }
                let url = try #require(status?.dropFirst("STATUS=listening on ".count))
                let port = try #require(Int(url.split(separator: ":").last ?? ""))
                #expect(Self.connects(port: port), "READY=1 before the port answered")
                // The file's data directory was used.
                #expect(FileManager.default.fileExists(atPath: dir.sub("proxy/proxy.sqlite")))
                process.signal(SIGTERM)
                _ = try await notify.waitFor(line: "STOPPING=1")
                #expect(await process.wait() == 0, "\(process.log.suffix(2000))")
            } catch {
                await process.stop()
                throw error
            }
        }
    }

    /// Whether a TCP connection to 127.0.0.1:`port` is accepted.
    static func connects(port: Int) -> Bool {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        } == 0
    }
}
