import FerryCore
import FerryTestSupport
import Foundation
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

/// A scripted stand-in for dockerd on a unix socket, for the answers a real 20.10 engine will
/// not give on demand: other API versions, error lines under HTTP 200, garbage, a load that
/// fails only when layers were left out. It records every request and keeps each load body.
final class FakeEngine: Sendable {
    struct Image: Sendable {
        var id: String
        var repoTags: [String]
        var layers: [Digest]
    }

    /// How to answer the next `POST /images/load`.
    enum LoadReply: Sendable {
        /// HTTP 200 with this body; the image (if any) exists afterwards.
        case ok(String, adds: Image?)
        /// This status with this body.
        case status(Int, String)
    }

    struct Load: Sendable {
        var path: String
        var contentType: String?
        var contentLength: String?
        var bytes: Int
        /// The body as saved in a file.
        var file: String
    }

    private struct State {
        var images: [Image] = []
        var replies: [LoadReply] = []
        var requests: [String] = []
        var loads: [Load] = []
    }

    let socket: String
    private let directory: TemporaryDirectory
    private let state = Mutex(State())
    private let group: ServiceGroup
    private let task: Task<Void, any Error>

    private init(socket: String, directory: TemporaryDirectory, group: ServiceGroup, task: Task<Void, any Error>) {
        self.socket = socket
        self.directory = directory
        self.group = group
        self.task = task
    }

    /// Starts a fake engine whose `/_ping` sends `Api-Version: apiVersion` (none when nil).
    static func start(apiVersion: String?, serverVersion: String = "20.10.24") async throws -> FakeEngine {
        let directory = try TemporaryDirectory("fde")
        let socket = directory.sub("docker.sock")
        let holder = Holder()
        let responder = CallbackResponder<BasicRequestContext> { request, _ in
            guard let engine = holder.engine.withLock({ $0 }) else { return Response(status: .serviceUnavailable) }
            return try await engine.respond(request, apiVersion: apiVersion, serverVersion: serverVersion)
        }
        let (running, continuation) = AsyncStream.makeStream(of: Bool.self)
        let app = Application(
            responder: responder,
            configuration: .init(address: .unixDomainSocket(path: socket)),
            onServerRunning: { _ in
                continuation.yield(true)
                continuation.finish()
            },
            logger: Logger(label: "ferry.test.fake-engine", factory: { _ in SwiftLogNoOpLogHandler() })
        )
        let group = ServiceGroup(
            configuration: .init(services: [app], logger: Logger(label: "ferry.test.fake-engine", factory: { _ in SwiftLogNoOpLogHandler() })))
        let task = Task { try await group.run() }
        let engine = FakeEngine(socket: socket, directory: directory, group: group, task: task)
        holder.engine.withLock { $0 = engine }
        var iterator = running.makeAsyncIterator()
        guard await iterator.next() == true else {
            await engine.stop()
            throw FerryError(.internal, "the fake engine did not start")
        }
        return engine
    }

    func stop() async {
        await group.triggerGracefulShutdown()
        _ = await task.result
        directory.remove()
    }

    func add(_ image: Image) { state.withLock { $0.images.append(image) } }
    func script(_ replies: LoadReply...) { state.withLock { $0.replies += replies } }
    var requests: [String] { state.withLock { $0.requests } }
    var loads: [Load] { state.withLock { $0.loads } }

    private func respond(_ request: Request, apiVersion: String?, serverVersion: String) async throws -> Response {
        let path = request.uri.path
        state.withLock { $0.requests.append("\(request.method) \(request.uri)") }
        if path == "/_ping" {
            var headers = HTTPFields()
            if let apiVersion { headers[.init("Api-Version")!] = apiVersion }
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: "OK")))
        }
        // /vX.Y/rest
        let parts = path.split(separator: "/", maxSplits: 1)
        guard parts.count == 2, parts[0].hasPrefix("v") else { return Self.json(.notFound, #"{"message":"page not found"}"#) }
        let rest = "/" + parts[1]
        switch (request.method, rest) {
        case (.get, "/version"):
            return Self.json(.ok, #"{"Version":"\#(serverVersion)","ApiVersion":"\#(apiVersion ?? "1.24")","Os":"linux"}"#)
        case (.get, "/images/json"):
            let ids = state.withLock { $0.images.map { #"{"Id":"\#($0.id)"}"# } }
            return Self.json(.ok, "[" + ids.joined(separator: ",") + "]")
        case (.post, "/images/load"):
            return try await load(request)
        default:
            break
        }
        if request.method == .get, rest.hasPrefix("/images/"), rest.hasSuffix("/json") {
            let name = String(rest.dropFirst("/images/".count).dropLast("/json".count)).removingPercentEncoding ?? ""
            guard let image = state.withLock({ $0.images.first { $0.id == name || $0.repoTags.contains(name) } }) else {
                return Self.json(.notFound, #"{"message":"No such image: \#(name)"}"#)
            }
            let tags = image.repoTags.map { "\"\($0)\"" }.joined(separator: ",")
            let layers = image.layers.map { "\"\($0)\"" }.joined(separator: ",")
            return Self.json(.ok, #"{"Id":"\#(image.id)","RepoTags":[\#(tags)],"RootFS":{"Type":"layers","Layers":[\#(layers)]}}"#)
        }
        if request.method == .post, rest.hasPrefix("/images/"), rest.hasSuffix("/tag") {
            let name = String(rest.dropFirst("/images/".count).dropLast("/tag".count))
            let repo = request.uri.queryParameters["repo"].map(String.init) ?? ""
            let tag = request.uri.queryParameters["tag"].map(String.init) ?? "latest"
            let found = state.withLock { state -> Bool in
                guard let index = state.images.firstIndex(where: { $0.id == name || $0.repoTags.contains(name) }) else { return false }
                state.images[index].repoTags.append("\(repo):\(tag)")
                return true
            }
            return found ? Response(status: .created) : Self.json(.notFound, #"{"message":"No such image: \#(name)"}"#)
        }
        return Self.json(.notFound, #"{"message":"page not found"}"#)
    }

    private func load(_ request: Request) async throws -> Response {
        let file = directory.sub("load-\(state.withLock { $0.loads.count }).tar")
        _ = FileManager.default.createFile(atPath: file, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: file))
        var bytes = 0
        for try await buffer in request.body {
            bytes += buffer.readableBytes
            try handle.write(contentsOf: Data(buffer.readableBytesView))
        }
        try handle.close()
        let record = Load(
            path: "\(request.uri)", contentType: request.headers[.contentType], contentLength: request.headers[.contentLength],
            bytes: bytes, file: file)
        let reply = state.withLock { state -> LoadReply? in
            state.loads.append(record)
            return state.replies.isEmpty ? nil : state.replies.removeFirst()
        }
        switch reply {
        case .ok(let body, let image):
            if let image { add(image) }
            return Self.json(.ok, body)
        case .status(let code, let body):
            return Self.json(.init(code: code), body)
        case nil:
            return Self.json(.internalServerError, #"{"message":"the fake engine has no scripted reply"}"#)
        }
    }

    private static func json(_ status: HTTPResponse.Status, _ body: String) -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: body)))
    }

    /// Lets the responder reach the engine object created after it.
    private final class Holder: Sendable {
        let engine = Mutex<FakeEngine?>(nil)
    }
}
