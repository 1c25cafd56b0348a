import AsyncHTTPClient
import FerryCore
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import NIOHTTP1
import Synchronization

/// A misbehaving upstream for tests: forwards to a real registry and injects faults on the way.
public final class FaultProxy: Sendable {
    /// What to break. Counters count down as faults are spent.
    public struct Plan: Sendable {
        /// Cut the connection after this many body bytes of a blob GET…
        public var dropBlobAfter: Int?
        /// …this many times.
        public var drops = 0
        /// Flip a byte in the middle of every blob body.
        public var corruptBlobs = false
        /// Answer this many requests (manifests or blobs) with 429 first…
        public var tooManyRequests = 0
        /// …carrying this `Retry-After` (seconds).
        public var retryAfter: Int? = 1
        /// Answer manifest requests with a signed schema 1 manifest.
        public var schema1 = false
        /// Answer manifest GETs with a body over 4 MiB.
        public var oversizedManifest = false
        /// Strip `Range` from blob requests, so resumes come back as 200.
        public var ignoreRange = false
        /// Shorten every bounded `Range: bytes=N-M` to at most this many bytes, so the 206 carries
        /// less than asked (as a server that caps a 206 does).
        public var capRange: Int64?
        /// Throttle blob bodies to this many bytes per second.
        public var blobRate: Int64?
        /// Go silent for ``pause`` after this many body bytes of a blob GET, keeping the
        /// connection open (an upstream link that stalls and comes back)…
        public var pauseBlobAfter: Int?
        /// …for this long, this many times.
        public var pause: Duration = .seconds(0)
        public var pauses = 0
        /// Answer this many requests (manifests or blobs) with 503 first.
        public var serverErrors = 0
        /// Answer blob GETs with a 307 to this base URL (another origin), as storage-backed registries do.
        public var redirectBlobsTo: String?
        /// Send this `Authorization` upstream instead of the client's (a presigned storage URL needs none from the client).
        public var upstreamAuthorization: String?

        public init() {}
    }

    /// One request the proxy saw.
    public struct Seen: Sendable {
        public var method: String
        public var path: String
        public var range: String?
        public var status: Int
        public var at: ContinuousClock.Instant
        /// Whether the request carried an `Authorization` header.
        public var authorized: Bool
        /// Body bytes of a blob GET sent to the client, so far.
        public var bytes: Int64 = 0
        /// When the last of those bytes was sent.
        public var lastByteAt: ContinuousClock.Instant?

        /// Where a blob GET started in the blob: the `N` of `Range: bytes=N-`, 0 without one.
        public var start: Int64 {
            guard let range, range.hasPrefix("bytes=") else { return 0 }
            return Int64(range.dropFirst(6).prefix { $0.isNumber }) ?? 0
        }
    }

    private let plan: Mutex<Plan>
    private let seen = Mutex<[Seen]>([])
    private let blobBytes = Mutex<Int64>(0)
    private let upstream: String
    private let server: Mutex<BackgroundServer?> = Mutex(nil)
    private let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(redirectConfiguration: .disallow))

    public var host: String { "127.0.0.1:\(port)" }
    public var url: String { "http://\(host)" }
    public var port: Int { server.withLock { $0!.port } }
    public var requests: [Seen] { seen.withLock { $0 } }
    /// Blob body bytes sent to clients.
    public var blobBytesServed: Int64 { blobBytes.withLock { $0 } }

    private init(upstream: String, plan: Plan) {
        self.upstream = upstream
        self.plan = Mutex(plan)
    }

    /// Starts a proxy in front of `upstream` (`http://host:port`).
    public static func start(upstream: String, plan: Plan = Plan()) async throws -> FaultProxy {
        let proxy = FaultProxy(upstream: upstream, plan: plan)
        let router = Router()
        router.get("/**") { request, _ in try await proxy.forward(request) }
        router.head("/**") { request, _ in try await proxy.forward(request) }
        let server = try await BackgroundServer.start(router)
        proxy.server.withLock { $0 = server }
        return proxy
    }

    public func update(_ change: (inout Plan) -> Void) { plan.withLock { change(&$0) } }
    /// The plan now, with what is left of its counters.
    public var currentPlan: Plan { plan.withLock { $0 } }

    public func stop() async {
        await server.withLock { $0 }?.stop()
        try? await http.shutdown()
    }

    @discardableResult
    private func record(_ request: Request, status: Int) -> Int {
        seen.withLock {
            $0.append(
                Seen(
                    method: "\(request.method)", path: request.uri.path, range: request.headers[.range], status: status, at: .now,
                    authorized: request.headers[.authorization] != nil))
            return $0.count - 1
        }
    }

    private func sent(_ count: Int, for index: Int) {
        blobBytes.withLock { $0 += Int64(count) }
        seen.withLock {
            $0[index].bytes += Int64(count)
            $0[index].lastByteAt = .now
        }
    }

    private func forward(_ request: Request) async throws -> Response {
        let path = request.uri.path
        let isBlob = path.contains("/blobs/")
        let isManifest = path.contains("/manifests/")
        let current = plan.withLock { plan -> Plan in
            let snapshot = plan
            if plan.tooManyRequests > 0 && (isBlob || isManifest) { plan.tooManyRequests -= 1 }
            if plan.tooManyRequests == snapshot.tooManyRequests, plan.serverErrors > 0 && (isBlob || isManifest) { plan.serverErrors -= 1 }
            return snapshot
        }
        if current.tooManyRequests == 0, current.serverErrors > 0 && (isBlob || isManifest) {
            record(request, status: 503)
            return Response(status: .serviceUnavailable, body: .init(byteBuffer: ByteBuffer(string: "maintenance")))
        }
        if isBlob, request.method == .get, let target = current.redirectBlobsTo {
            record(request, status: 307)
            var headers = HTTPFields()
            headers[.location] = target + path
            return Response(status: .temporaryRedirect, headers: headers)
        }
        if current.tooManyRequests > 0 && (isBlob || isManifest) {
            record(request, status: 429)
            var headers = HTTPFields()
            if let retryAfter = current.retryAfter { headers[HTTPField.Name("Retry-After")!] = "\(retryAfter)" }
            headers[.contentType] = "application/json"
            return Response(status: .tooManyRequests, headers: headers, body: .init(byteBuffer: ByteBuffer(string: #"{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}"#)))
        }
        if isManifest && current.schema1 { return schema1(request) }
        if isManifest && current.oversizedManifest && request.method == .get {
            record(request, status: 200)
            var headers = HTTPFields()
            headers[.contentType] = MediaType.dockerManifest
            let filler = String(repeating: "x", count: 5 * 1024 * 1024)
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: #"{"schemaVersion":2,"pad":"\#(filler)"}"#)))
        }

        var outgoing = HTTPClientRequest(url: upstream + path + (request.uri.query.map { "?\($0)" } ?? ""))
        outgoing.method = request.method == .head ? .HEAD : .GET
        for field in request.headers where [.accept, .authorization, .range].contains(field.name) {
            if field.name == .range && current.ignoreRange { continue }
            if field.name == .authorization && current.upstreamAuthorization != nil { continue }
            if field.name == .range, let cap = current.capRange, field.value.hasPrefix("bytes="),
                case let bounds = field.value.dropFirst(6).split(separator: "-"), bounds.count == 2,
                let first = Int64(bounds[0]), let last = Int64(bounds[1])
            {
                outgoing.headers.add(name: "Range", value: "bytes=\(first)-\(min(last, first + cap - 1))")
                continue
            }
            outgoing.headers.add(name: field.name.rawName, value: field.value)
        }
        if let authorization = current.upstreamAuthorization { outgoing.headers.add(name: "Authorization", value: authorization) }
        let response = try await http.execute(outgoing, timeout: .seconds(120))
        let index = record(request, status: Int(response.status.code))
        var headers = HTTPFields()
        for header in response.headers {
            guard let name = HTTPField.Name(header.name), name != .transferEncoding, name != .connection else { continue }
            headers.append(HTTPField(name: name, value: header.value))
        }
        let status = HTTPResponse.Status(code: Int(response.status.code))
        guard isBlob, request.method == .get, (200..<300).contains(status.code) else {
            let body = try await response.body.collect(upTo: 64 * 1024 * 1024)
            return Response(status: status, headers: headers, body: .init(byteBuffer: body))
        }
        let length = response.headers.first(name: "Content-Length").flatMap(Int.init)
        // Only bodies long enough to be cut count against the number of drops.
        let drop: Int? = plan.withLock { plan in
            guard plan.drops > 0, let after = plan.dropBlobAfter, let length, length > after else { return nil }
            plan.drops -= 1
            return after
        }
        let pause: Int? = plan.withLock { plan in
            guard plan.pauses > 0, let after = plan.pauseBlobAfter, let length, length > after else { return nil }
            plan.pauses -= 1
            return after
        }
        let silence = current.pause
        let body = ResponseBody(contentLength: length) { [self] writer in
            var delivered = 0
            var paused = false
            for try await chunk in response.body {
                var chunk = chunk
                if current.corruptBlobs, chunk.readableBytes > 0 {
                    let index = chunk.readerIndex + chunk.readableBytes / 2
                    let byte = chunk.getInteger(at: index, as: UInt8.self)!
                    chunk.setInteger(byte ^ 0xff, at: index)
                }
                if let drop, delivered + chunk.readableBytes > drop {
                    let keep = max(drop - delivered, 0)
                    if keep > 0 { try await writer.write(chunk.getSlice(at: chunk.readerIndex, length: keep)!) }
                    self.sent(keep, for: index)
                    throw FerryError(.upstreamUnreachable, "fault proxy: dropping the connection")
                }
                if let rate = current.blobRate {
                    try await Task.sleep(for: .milliseconds(Int64(chunk.readableBytes) * 1000 / rate))
                }
                if let pause, !paused, delivered + chunk.readableBytes > pause {
                    paused = true
                    let keep = pause - delivered
                    if keep > 0 {
                        try await writer.write(chunk.getSlice(at: chunk.readerIndex, length: keep)!)
                        delivered += keep
                        self.sent(keep, for: index)
                        chunk.moveReaderIndex(forwardBy: keep)
                    }
                    try await Task.sleep(for: silence)
                }
                try await writer.write(chunk)
                delivered += chunk.readableBytes
                self.sent(chunk.readableBytes, for: index)
            }
            try await writer.finish(nil)
        }
        return Response(status: status, headers: headers, body: body)
    }

    private func schema1(_ request: Request) -> Response {
        record(request, status: 200)
        let body = #"{"schemaVersion":1,"name":"demo/app","tag":"1","architecture":"amd64","fsLayers":[{"blobSum":"sha256:a3ed95caeb02ffe68cdd9fd84406680ae93d633cb16422d00e8a7c22955b46d4"}],"history":[{"v1Compatibility":"{}"}],"signatures":[]}"#
        var headers = HTTPFields()
        headers[.contentType] = MediaType.dockerSchema1Signed
        headers[.contentLength] = "\(body.utf8.count)"
        // A schema 1 digest is over the payload without signatures: deliberately not the body's hash.
        headers[HTTPField.Name("Docker-Content-Digest")!] = "sha256:1107f3" + String(repeating: "0", count: 58)
        if request.method == .head { return Response(status: .ok, headers: headers) }
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: body)))
    }
}
