import FerryCore
import Testing

#if canImport(Glibc)
import Glibc
#endif

@testable import FerryMesh

/// Fetching the cluster CA before a first join, when nothing answers.
@Suite("Cluster CA fetch")
struct ClusterCAFetchTests {
    /// A loopback port nothing listens on: bound to an ephemeral port, then closed.
    static func closedPort() throws -> Int {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        try #require(descriptor >= 0)
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(descriptor, pointer, length) == 0 && getsockname(descriptor, pointer, &length) == 0
            }
        }
        try #require(bound)
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// The connect fails before the channel is active: one clear error, not a leaked promise
    /// (which crashed a first `ferry follower` against a leader that was not running).
    @Test("A leader that is not running is one error naming it")
    func nothingListening() async throws {
        let port = try Self.closedPort()
        let error = await #expect(throws: FerryError.self) {
            _ = try await MeshTLS.fetchClusterCA(host: "127.0.0.1", port: port, fingerprint: String(repeating: "0", count: 64))
        }
        #expect(error?.code == .upstreamUnreachable)
        #expect(error?.message.contains("cannot reach the leader at 127.0.0.1:\(port)") == true)
    }
}
