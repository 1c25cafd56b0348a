import FerryCore
import FerryDocker
import FerryTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite("An engine that cannot be reached")
struct UnreachableEngineTests {
    static func expectUnreachable(_ socket: String, reason: String, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let client = try DockerClient(host: "unix://\(socket)")
        let error = await #expect(throws: FerryError.self, sourceLocation: sourceLocation) { try await client.ping() }
        #expect(error?.code == .dockerUnreachable, sourceLocation: sourceLocation)
        #expect(error?.message == "cannot reach the Docker engine at unix://\(socket): \(reason)", sourceLocation: sourceLocation)
        // Every call says the same, not only ping.
        let again = await #expect(throws: FerryError.self, sourceLocation: sourceLocation) { _ = try await client.listImages() }
        #expect(again?.code == .dockerUnreachable, sourceLocation: sourceLocation)
        try await client.shutdown()
    }

    @Test("a missing socket: no such socket, with the path")
    func missingSocket() async throws {
        try await withTemporaryDirectory("fdu") { dir in
            try await Self.expectUnreachable(dir.sub("docker.sock"), reason: "no such socket")
        }
    }

    @Test("a socket nobody listens on: connection refused")
    func refused() async throws {
        try await withTemporaryDirectory("fdu") { dir in
            let path = dir.sub("docker.sock")
            // Bound but never listening, as after an engine died without removing its socket.
            let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            #expect(fd >= 0)
            defer { close(fd) }
            var address = sockaddr_un()
            address.sun_family = sa_family_t(AF_UNIX)
            withUnsafeMutableBytes(of: &address.sun_path) { raw in
                for (index, byte) in path.utf8.enumerated() { raw[index] = byte }
            }
            let bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
            }
            #expect(bound == 0)
            try await Self.expectUnreachable(path, reason: "connection refused")
        }
    }

    @Test("a path that is not a socket")
    func notASocket() async throws {
        try await withTemporaryDirectory("fdu") { dir in
            #expect(FileManager.default.createFile(atPath: dir.sub("docker.sock"), contents: Data("x".utf8)))
            try await Self.expectUnreachable(dir.sub("docker.sock"), reason: "not a socket")
        }
    }
}
