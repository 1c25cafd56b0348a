import AsyncHTTPClient
#if canImport(Glibc)
import Glibc
#endif
import FerryCore
import NIOCore
import NIOSSL
import Synchronization

/// The HTTP client pools of a process for talking to Ferry nodes: one per trust setting (plain,
/// or a cluster CA file), made once and kept for the life of the process.
public enum MeshHTTP {
    private static let clients = Mutex<[String: HTTPClient]>([:])

    /// How long a blob transfer may go without a byte before the source counts as gone and the
    /// receiver resumes elsewhere: short, so that a peer whose link died (or whose process hangs)
    /// is left quickly. A healthy source, even one serving by cut-through from a rate-limited
    /// upstream, sends something far more often than this (the rate limiters sleep off debts of
    /// milliseconds; the store's cut-through reader wakes at each chunk written).
    public static let transferStallTimeout: Duration = .seconds(5)

    /// The client for nodes whose certificates chain to the CA in `caFile`, or for plain HTTP when
    /// nil. `readTimeout` bounds the silence within a response (long polls answer within 60 s).
    ///
    /// With `leader`, the client is for the leader at that address: request URLs name
    /// ``leaderURL(_:)`` and the server must present the leader's certificate. Otherwise it is for
    /// peers (chain only), presenting `identity` as the client certificate.
    public static func client(
        caFile: String?, leader: NodeAddress? = nil, identity: MeshTLS.ClientIdentity? = nil, readTimeout: Duration = .seconds(90)
    ) throws(FerryError) -> HTTPClient {
        // The CA file's change time too: a client made before the file was replaced (a new
        // cluster CA, `ferry leader new-ca`) would trust the old CA for the life of the process.
        let key = "\(caFile ?? "")|\(caFile.map(changeTime) ?? "")|\(leader?.description ?? "")|\(identity?.certificateFile ?? "")|\(identity?.generation ?? "")|\(readTimeout)"
        if let existing = clients.withLock({ $0[key] }) { return existing }
        var configuration = HTTPClient.Configuration(
            redirectConfiguration: .disallow,
            timeout: .init(connect: .seconds(10), read: TimeAmount(readTimeout)),
            decompression: .disabled)
        if let caFile {
            configuration.tlsConfiguration = try MeshTLS.clientConfiguration(caFile: caFile, leader: leader != nil, identity: leader == nil ? identity : nil)
            // The leader is reached under its reserved name, which is also the name its
            // certificate must hold (SNI and hostname verification use it).
            if let leader { configuration.dnsOverride = [NodeAddress.leaderName: leader.host] }
        }
        // A refused connection fails at once instead of being retried until the timeout.
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = 16
        let made = configuration
        return clients.withLock { clients in
            if let existing = clients[key] { return existing }
            let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: made)
            clients[key] = client
            return client
        }
    }

    /// When the file at `path` last changed (to the nanosecond), as a key; empty if it cannot be read.
    private static func changeTime(_ path: String) -> String {
        var info = stat()
        guard stat(path, &info) == 0 else { return "" }
        return "\(info.st_ctim.tv_sec).\(info.st_ctim.tv_nsec).\(info.st_ino)"
    }

    /// The base URL to send requests for the leader at `address` to through a client made with
    /// `leader: address`: `https://leader.ferry.invalid:PORT` over TLS, the address itself in plain HTTP.
    public static func leaderURL(_ address: NodeAddress) -> String {
        address.scheme == .https ? "https://\(NodeAddress.leaderName):\(address.port)" : address.description
    }
}
