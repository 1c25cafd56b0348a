import Foundation
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

/// A Hummingbird server on an ephemeral loopback port, run in the background for a test.
public final class BackgroundServer: Sendable {
    public let port: Int
    private let group: ServiceGroup
    private let task: Task<Void, any Error>

    private init(port: Int, group: ServiceGroup, task: Task<Void, any Error>) {
        self.port = port
        self.group = group
        self.task = task
    }

    public var url: String { "http://127.0.0.1:\(port)" }

    /// Starts `router` on `host`, port 0, with `server` (plain HTTP/1.1 unless given, e.g.
    /// `.tls(.http1(), tlsConfiguration: …)`); returns once it listens.
    public static func start<Context: RequestContext>(
        _ router: Router<Context>, server: HTTPServerBuilder = .http1(), host: String = "127.0.0.1"
    ) async throws -> BackgroundServer
    where Context.Source == ApplicationRequestContextSource {
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        let quiet = Logger(label: "ferry.test.server", factory: { _ in SwiftLogNoOpLogHandler() })
        let app = Application(
            router: router,
            server: server,
            configuration: .init(address: .hostname(host, port: 0)),
            onServerRunning: { channel in
                continuation.yield(channel.localAddress?.port ?? 0)
                continuation.finish()
            },
            logger: quiet
        )
        let group = ServiceGroup(configuration: .init(services: [app], logger: quiet))
        let task = Task { try await group.run() }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next(), port > 0 else {
            task.cancel()
            throw CancellationError()
        }
        return BackgroundServer(port: port, group: group, task: task)
    }

    public func stop() async {
        await group.triggerGracefulShutdown()
        _ = await task.result
    }
}
