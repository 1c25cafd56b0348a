import AsyncHTTPClient
import FerryCore
import FerryFormats
import FerryPolicy
import FerryProxy
import FerryRegistry
import FerryTestSupport
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import Synchronization
import Testing

/// A real `ProxyServer` on loopback in front of an in-process upstream (``FakeUpstream``), driven
/// over HTTP as a registry client would.
@Suite("Proxy server")
struct ProxyServerTests {
    struct Reply: Sendable {
        var status: Int
        var headers: HTTPHeaders
        var body: [UInt8]
        var text: String { String(decoding: body, as: UTF8.self) }
    }

    /// Everything a test needs: the upstream, the proxy's URL and directory, a licence.
    final class Harness: Sendable {
        let upstream: FakeUpstream
        let url: String
        let directory: TemporaryDirectory
        let database: ProxyDatabase
        let licence: LicenceID
        /// The management API's token.
        let adminToken: String
        let replies = Mutex<[Reply]>([])

        init(upstream: FakeUpstream, url: String, directory: TemporaryDirectory, database: ProxyDatabase, licence: LicenceID, adminToken: String) {
            self.upstream = upstream
            self.url = url
            self.directory = directory
            self.database = database
            self.licence = licence
            self.adminToken = adminToken
        }

        func basic(_ password: String) -> String { "Basic " + Data("customer:\(password)".utf8).base64EncodedString() }

        /// A customer on a raw TCP connection that has sent `GET path` and reads only when told to.
        func customer(_ path: String, authorization: String, receiveBuffer: Int? = nil) throws -> RawTCPClient {
            let client = try RawTCPClient(port: try #require(Int(url.split(separator: ":").last ?? "")), receiveBuffer: receiveBuffer)
            try client.send("GET \(path) HTTP/1.1\r\nHost: proxy\r\nAuthorization: \(authorization)\r\n\r\n")
            return client
        }

        func get(
            _ path: String, method: HTTPMethod = .GET, authorization: String? = nil, headers extra: HTTPHeaders = [:], body: [UInt8]? = nil
        ) async throws -> Reply {
            var request = HTTPClientRequest(url: url + path)
            request.method = method
            request.headers = extra
            if let body { request.body = .bytes(ByteBuffer(bytes: body)) }
            if let authorization { request.headers.add(name: "Authorization", value: authorization) }
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
            let body = try await response.body.collect(upTo: 64 * 1024 * 1024)
            let reply = Reply(status: Int(response.status.code), headers: response.headers, body: Array(body.readableBytesView))
            replies.withLock { $0.append(reply) }
            return reply
        }
    }

    static func withProxy(configuration: ProxyConfiguration = ProxyConfiguration(), _ body: (Harness) async throws -> Void) async throws {
        let upstream = FakeUpstream()
        let server = try await BackgroundServer.start(upstream.router)
        let directory = try TemporaryDirectory("ferry-proxy")
        defer { directory.remove() }
        let proxyDirectory = try ProxyDirectory(directory.sub("proxy"))
        let database = try proxyDirectory.openDatabase()
        try await database.putApp(ProxyApp(name: "shop", registries: ["vendor": "127.0.0.1:\(server.port)"]))
        try await database.putApp(ProxyApp(name: "other", registries: ["vendor": "127.0.0.1:\(server.port)"]))
        let licence = LicenceID.generate()
        _ = try await database.createLicence(hash: licence.hash, app: "shop", customer: "acme", images: [], expiresAt: nil, maxRate: nil)
        let credentials = RegistryCredentials(["127.0.0.1:\(server.port)": RegistryCredential(username: "vendor", password: FakeUpstream.password)])
        var registry = RegistryClientConfiguration()
        registry.retry = .init(maxAttempts: 2, baseDelay: .milliseconds(10), maxDelay: .milliseconds(20))
        let options = ProxyServerOptions(
            directory: proxyDirectory, host: "127.0.0.1", port: 0, configuration: configuration, registry: registry, credentials: credentials)
        let (urls, continuation) = AsyncStream.makeStream(of: String.self)
        let task = Task {
            try await ProxyServer.run(options, logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })) { url in
                continuation.yield(url)
                continuation.finish()
            }
        }
        defer { task.cancel() }
        var iterator = urls.makeAsyncIterator()
        guard let url = await iterator.next() else { throw CancellationError() }
        let harness = Harness(
            upstream: upstream, url: url, directory: directory, database: database, licence: licence, adminToken: try proxyDirectory.adminToken())
        do {
            try await body(harness)
        } catch {
            task.cancel()
            _ = await task.result
            await server.stop()
            throw error
        }
        task.cancel()
        _ = await task.result
        await server.stop()
    }

    @Test func bearerFlowServesManifestsAndBlobs() async throws {
        try await Self.withProxy { proxy in
            let image = proxy.upstream.addImage(tag: "1.4", layer: Array(repeating: 7, count: 300_000))
            let name = "proxy/shop/vendor/team/app"
            // No credentials: a Bearer challenge naming the token endpoint and the scope.
            let challenge = try await proxy.get("/v2/\(name)/manifests/1.4")
            #expect(challenge.status == 401)
            let header = challenge.headers.first(name: "WWW-Authenticate") ?? ""
            #expect(header.contains(#"Bearer realm="\#(proxy.url)/token""#))
            #expect(header.contains(#"scope="repository:\#(name):pull""#))
            // The token endpoint: Basic with the licence as password.
            let tokenReply = try await proxy.get("/token?service=ferry-proxy&scope=repository:\(name):pull", authorization: proxy.basic(proxy.licence.secret))
            #expect(tokenReply.status == 200)
            struct TokenBody: Decodable { var token: String }
            let token = try JSONDecoder().decode(TokenBody.self, from: Data(tokenReply.body)).token
            // The scheme in any case (RFC 9110 §11.1), as the registry and Docker take it.
            for scheme in ["bearer", "BEARER", "Bearer  "] {
                #expect(try await proxy.get("/v2/\(name)/manifests/1.4", authorization: "\(scheme) \(token)").status == 200, "\(scheme)")
            }
            let manifest = try await proxy.get("/v2/\(name)/manifests/1.4", authorization: "Bearer \(token)")
            #expect(manifest.status == 200)
            #expect(Digest.sha256(of: manifest.body) == image.manifest)
            #expect(manifest.headers.first(name: "Docker-Content-Digest") == image.manifest.description)
            let blob = try await proxy.get("/v2/\(name)/blobs/\(image.layer)", authorization: "Bearer \(token)")
            #expect(blob.status == 200)
            #expect(Digest.sha256(of: blob.body) == image.layer)
            // A token for one repository does not open another of the same app: 401 insufficient_scope.
            let other = try await proxy.get("/v2/proxy/shop/vendor/team/other/manifests/1.4", authorization: "Bearer \(token)")
            #expect(other.status == 401)
            // Basic directly on /v2/ also works; a range from the cache.
            let ranged = try await proxy.get(
                "/v2/\(name)/blobs/\(image.layer)", authorization: proxy.basic(proxy.licence.secret), headers: ["Range": "bytes=10-19"])
            #expect(ranged.status == 206)
            #expect(ranged.body.count == 10)
            #expect(proxy.upstream.blobGets.withLock { $0[image.layer] } == 1)
            // Audited (after each body is sent): the manifest and both blob pulls.
            try await waitUntil("both blob pulls audited") {
                try await proxy.database.pulls().filter { $0.kind == "blob" && $0.status / 100 == 2 }.count == 2
            }
            #expect(try await proxy.database.pulls().contains { $0.kind == "manifest" && $0.digest == image.manifest.description })
        }
    }

    /// Bad bodies to the management API, with the admin token: 400 naming the expected JSON, 413
    /// past the size limit (as the leader's admin API answers), registry-style; nothing stored.
    @Test func managementAPIRefusesBadBodies() async throws {
        try await Self.withProxy { proxy in
            let admin = "Bearer \(proxy.adminToken)"
            for path in ["/admin/v1/proxy/apps", "/admin/v1/proxy/licences"] {
                for body in ["", "{", #"{"name": 7}"#, "[]"] {
                    let reply = try await proxy.get(path, method: .POST, authorization: admin, body: Array(body.utf8))
                    #expect(reply.status == 400, "\(path) \(body): \(reply.text)")
                    #expect(reply.text.contains(#""code":"INVALID_ARGUMENT""#) || reply.text.contains(#""code" : "INVALID_ARGUMENT""#), "\(reply.text)")
                    #expect(reply.text.contains(path.hasSuffix("apps") ? "registries" : "customer"), "the expected shape is named: \(reply.text)")
                }
                let large = try await proxy.get(path, method: .POST, authorization: admin, body: Array(repeating: UInt8(ascii: " "), count: 9 << 20))
                #expect(large.status == 413, "\(path): \(large.text)")
            }
            #expect(try await proxy.database.apps().map(\.name).sorted() == ["other", "shop"])
            #expect(try await proxy.database.licences().count == 1)
            // The token opens it; a good body is taken.
            let good = try await proxy.get(
                "/admin/v1/proxy/apps", method: .POST, authorization: admin,
                body: Array(#"{"name": "third", "registries": {"vendor": "127.0.0.1:9"}, "images": []}"#.utf8))
            #expect(good.status == 200, "\(good.text)")
            #expect(try await proxy.database.apps().map(\.name).sorted() == ["other", "shop", "third"])
        }
    }

    @Test func concurrentPullsCostOneUpstreamTransfer() async throws {
        try await Self.withProxy { proxy in
            let image = proxy.upstream.addImage(tag: "2.0", layer: (0..<4_000_000).map { UInt8(truncatingIfNeeded: $0 &* 31) })
            let path = "/v2/proxy/shop/vendor/team/app/blobs/\(image.layer)"
            let auth = proxy.basic(proxy.licence.secret)
            try await withThrowingTaskGroup(of: Digest.self) { group in
                for _ in 0..<8 { group.addTask { Digest.sha256(of: try await proxy.get(path, authorization: auth).body) } }
                for try await digest in group { #expect(digest == image.layer) }
            }
            #expect(proxy.upstream.blobGets.withLock { $0[image.layer] } == 1)
        }
    }

    /// Cache poisoning across repositories by digest: once `team/app`'s manifest and layer are in
    /// the proxy's store, asking for the same digests under a repository whose registry does not
    /// hold them (`team/secret`) goes upstream and answers 404, never the cached bytes.
    @Test func anotherRepositorysCacheNeverAnswers() async throws {
        try await Self.withProxy { proxy in
            let layer = Array("the layer of team/app only".utf8)
            let image = proxy.upstream.addImage(tag: "3.0", layer: layer)
            let auth = proxy.basic(proxy.licence.secret)
            let held = "/v2/proxy/shop/vendor/team/app"
            #expect(try await proxy.get("\(held)/manifests/3.0", authorization: auth).status == 200)
            #expect(try await proxy.get("\(held)/blobs/\(image.layer)", authorization: auth).body == layer)
            // Cached now: the same repository is answered without another blob GET.
            #expect(try await proxy.get("\(held)/blobs/\(image.layer)", authorization: auth).body == layer)
            #expect(proxy.upstream.blobGets.withLock { $0[image.layer] } == 1)

            let foreign = "/v2/proxy/shop/vendor/team/secret"
            for method in [HTTPMethod.GET, .HEAD] {
                let blob = try await proxy.get("\(foreign)/blobs/\(image.layer)", method: method, authorization: auth)
                #expect(blob.status == 404, "\(method) blob: \(blob.text)")
                let ranged = try await proxy.get(
                    "\(foreign)/blobs/\(image.layer)", method: method, authorization: auth, headers: ["Range": "bytes=0-3"])
                #expect(ranged.status == 404, "\(method) ranged blob: \(ranged.text)")
                let manifest = try await proxy.get("\(foreign)/manifests/\(image.manifest)", authorization: auth)
                #expect(manifest.status == 404, "manifest: \(manifest.text)")
                if method == .GET {
                    #expect(blob.text.contains("BLOB_UNKNOWN"), "\(blob.text)")
                    #expect(manifest.text.contains("MANIFEST_UNKNOWN"), "\(manifest.text)")
                }
                #expect(!blob.text.contains("team/app only") && ranged.body != Array(layer.prefix(4)))
            }
            // Each answer came from asking the registry about team/secret, not from the store.
            let asked = proxy.upstream.requests.withLock { $0.filter { $0.contains("/v2/team/secret/") } }
            #expect(asked.contains("HEAD /v2/team/secret/blobs/\(image.layer)"), "\(asked)")
            #expect(asked.contains { $0.hasSuffix("/v2/team/secret/manifests/\(image.manifest)") }, "\(asked)")
            #expect(proxy.upstream.blobGets.withLock { $0[image.layer] } == 1)
        }
    }

    /// What real clients and the OCI conformance suite check, answered as the leader answers:
    /// an invalid tag is 404 MANIFEST_UNKNOWN (not 400), an unknown repository's tags NAME_UNKNOWN,
    /// a 416 names the size in `Content-Range`, a 405 says `Allow`, and a HEAD error carries the
    /// length its GET body has.
    @Test("a tag's manifest follows the client's Accept as the leader's and the CNCF registry's do: a list to a client that takes no lists is its linux/amd64 manifest")
    func manifestListFollowsTheClientsAccept() async throws {
        try await Self.withProxy { proxy in
            let amd64 = proxy.upstream.addImage(tag: "amd64", layer: Array(repeating: 1, count: 100))
            let arm64 = proxy.upstream.addImage(tag: "arm64", layer: Array(repeating: 2, count: 100))
            let list = proxy.upstream.addList(tag: "multi", entries: [(arm64.manifest, "arm64"), (amd64.manifest, "amd64")])
            let auth = proxy.basic(proxy.licence.secret)
            let path = "/v2/proxy/shop/vendor/team/app/manifests/multi"
            for method in [HTTPMethod.GET, .HEAD] {
                let v2Only = try await proxy.get(path, method: method, authorization: auth, headers: ["Accept": MediaType.dockerManifest])
                #expect(v2Only.status == 200 && v2Only.headers.first(name: "Docker-Content-Digest") == amd64.manifest.description, "\(method): \(v2Only.headers)")
                #expect(v2Only.headers.first(name: "Content-Type") == MediaType.dockerManifest)
                let lists = try await proxy.get(path, method: method, authorization: auth, headers: ["Accept": MediaType.manifestAccept])
                #expect(lists.status == 200 && lists.headers.first(name: "Docker-Content-Digest") == list.description, "\(method): \(lists.headers)")
                let anything = try await proxy.get(path, method: method, authorization: auth)
                #expect(anything.headers.first(name: "Docker-Content-Digest") == list.description, "\(method): no Accept")
            }
            // A list whose linux/amd64 manifest is of no type the client takes: 404, as the leader.
            let none = try await proxy.get(path, authorization: auth, headers: ["Accept": MediaType.ociManifest])
            #expect(none.status == 404 && none.text.contains("MANIFEST_UNKNOWN"), "\(none.status) \(none.text)")
            // By digest, always as it is.
            let pinned = try await proxy.get("/v2/proxy/shop/vendor/team/app/manifests/\(list)", authorization: auth, headers: ["Accept": MediaType.dockerManifest])
            #expect(pinned.status == 200 && pinned.headers.first(name: "Docker-Content-Digest") == list.description)
        }
    }

    @Test func answersAsRegistryClientsExpect() async throws {
        try await Self.withProxy { proxy in
            let image = proxy.upstream.addImage(tag: "5.0", layer: Array(repeating: 5, count: 1000))
            let auth = proxy.basic(proxy.licence.secret)
            let name = "/v2/proxy/shop/vendor/team/app"
            for method in [HTTPMethod.GET, .HEAD] {
                let invalid = try await proxy.get("\(name)/manifests/.INVALID_MANIFEST_NAME", method: method, authorization: auth)
                #expect(invalid.status == 404, "\(method): \(invalid.text)")
                let unknown = try await proxy.get("\(name)/manifests/no-such-tag", method: method, authorization: auth)
                #expect(unknown.status == 404, "\(method): \(unknown.text)")
                let range = try await proxy.get("\(name)/blobs/\(image.layer)", method: method, authorization: auth, headers: ["Range": "bytes=5000-"])
                #expect(range.status == 416, "\(method): \(range.text)")
                #expect(range.headers.first(name: "Content-Range") == "bytes */1000", "\(method): \(range.headers)")
            }
            // The GET's 416 is audited, as a failed pull (docs/proxy.md, *Usage*); HEADs are not.
            try await waitUntil("the 416 audited") { try await proxy.database.pulls().contains { $0.kind == "blob" && $0.status == 416 } }
            let refused = try await proxy.database.pulls().filter { $0.kind == "blob" && $0.status == 416 }
            #expect(refused.count == 1 && refused.first?.digest == image.layer.description, "\(refused)")
            let invalid = try await proxy.get("\(name)/manifests/.INVALID_MANIFEST_NAME", authorization: auth)
            #expect(invalid.text.contains("MANIFEST_UNKNOWN"), "\(invalid.text)")
            let tags = try await proxy.get("/v2/proxy/shop/vendor/team/nothing/tags/list", authorization: auth)
            #expect(tags.status == 404 && tags.text.contains("NAME_UNKNOWN") && tags.text.contains("repository proxy/shop/vendor/team/nothing is not known upstream"), "\(tags.status) \(tags.text)")
            let put = try await proxy.get("\(name)/manifests/5.0", method: .PUT, authorization: auth, body: [1])
            #expect(put.status == 405 && put.headers.first(name: "Allow") == "GET, HEAD", "\(put.status) \(put.headers)")
            // A HEAD error announces the length of the GET's body (RFC 9110 §8.6), and sends none.
            let get = try await proxy.get("\(name)/blobs/sha256:\(String(repeating: "0", count: 64))", authorization: auth)
            let head = try await proxy.get("\(name)/blobs/sha256:\(String(repeating: "0", count: 64))", method: .HEAD, authorization: auth)
            #expect(get.status == 404 && head.status == 404)
            #expect(head.headers.first(name: "Content-Length") == String(get.body.count) && head.body.isEmpty, "\(head.headers) vs \(get.body.count)")
            // Conditional requests: content by digest never changes, so its ETag answers 304.
            for path in ["\(name)/manifests/5.0", "\(name)/manifests/\(image.manifest)", "\(name)/blobs/\(image.layer)"] {
                let etag = try #require(try await proxy.get(path, method: .HEAD, authorization: auth).headers.first(name: "ETag"), "\(path)")
                let conditional = try await proxy.get(path, authorization: auth, headers: ["If-None-Match": etag])
                #expect(conditional.status == 304 && conditional.body.isEmpty, "\(path): \(conditional.status)")
                // Only a tag's answer depends on Accept, and says so, in the 304 as in the 200.
                let byTag = path.hasSuffix("/5.0")
                #expect(conditional.headers.first(name: "Vary") == (byTag ? "Accept" : nil), "\(path)")
                #expect(try await proxy.get(path, authorization: auth).headers.first(name: "Vary") == (byTag ? "Accept" : nil), "\(path)")
                #expect(try await proxy.get(path, authorization: auth, headers: ["If-None-Match": "\"sha256:other\""]).status == 200, "\(path)")
            }
            // The catalog is paginated as tags are (n, last, Link).
            let catalog = try await proxy.get("/v2/_catalog", authorization: auth)
            #expect(catalog.text == #"{"repositories":["proxy/shop/vendor/team/app"]}"#, "\(catalog.text)")
            let first = try await proxy.get("/v2/_catalog?n=0", authorization: auth)
            #expect(first.text == #"{"repositories":[]}"# && first.headers.first(name: "Link") == nil, "\(first.text)")
            let after = try await proxy.get("/v2/_catalog?last=proxy/shop/vendor/team/app", authorization: auth)
            #expect(after.text == #"{"repositories":[]}"#, "\(after.text)")
            let badN = try await proxy.get("/v2/_catalog?n=x", authorization: auth)
            #expect(badN.status == 400 && badN.text.contains(#""code":"PAGINATION_NUMBER_INVALID""#), "\(badN.text)")
        }
    }

    @Test func refusesWrongRevokedExpiredAndOutsideAllowance() async throws {
        try await Self.withProxy { proxy in
            proxy.upstream.addImage(tag: "1.0", layer: [1, 2, 3])
            let path = "/v2/proxy/shop/vendor/team/app/manifests/1.0"
            #expect(try await proxy.get(path, authorization: proxy.basic(LicenceID.generate().secret)).status == 401)
            #expect(try await proxy.get(path, authorization: proxy.basic("not-a-licence")).status == 401)
            // Another app's image.
            let foreign = try await proxy.get("/v2/proxy/other/vendor/team/app/manifests/1.0", authorization: proxy.basic(proxy.licence.secret))
            #expect(foreign.status == 403)
            #expect(foreign.text.contains("DENIED") && foreign.text.contains("proxy/other/vendor/team/app"))
            // A registry name the app does not define: refused, and no request reaches any upstream.
            let before = proxy.upstream.paths.withLock { $0.count }
            let undefined = try await proxy.get("/v2/proxy/shop/internal/team/app/manifests/1.0", authorization: proxy.basic(proxy.licence.secret))
            #expect(undefined.status == 403)
            #expect(proxy.upstream.paths.withLock { $0.count } == before)
            // Path traversal and encoded dots.
            for bad in ["/v2/proxy/shop/../vendor/team/app/manifests/1.0", "/v2/proxy/shop/%2e%2e/team/app/manifests/1.0"] {
                let reply = try await proxy.get(bad, authorization: proxy.basic(proxy.licence.secret))
                #expect([400, 404].contains(reply.status))
            }
            // Writes: 405 with a licence, 401 without.
            #expect(try await proxy.get("/v2/proxy/shop/vendor/team/app/blobs/uploads/", method: .POST, authorization: proxy.basic(proxy.licence.secret)).status == 405)
            #expect(try await proxy.get("/v2/proxy/shop/vendor/team/app/manifests/1.0", method: .PUT).status == 401)
            // Expired, then revoked: 403 saying which.
            let expiring = LicenceID.generate()
            _ = try await proxy.database.createLicence(
                hash: expiring.hash, app: "shop", customer: "late", images: [], expiresAt: Date().addingTimeInterval(-60), maxRate: nil)
            let expired = try await proxy.get(path, authorization: proxy.basic(expiring.secret))
            #expect(expired.status == 403 && expired.text.contains("licence expired on"))
            #expect(try await proxy.get(path, authorization: proxy.basic(proxy.licence.secret)).status == 200)
            let licence = try #require(try await proxy.database.licence(hash: proxy.licence.hash))
            _ = try await proxy.database.revokeLicence(id: licence.id)
            let revoked = try await proxy.get(path, authorization: proxy.basic(proxy.licence.secret))
            #expect(revoked.status == 403 && revoked.text.contains("licence revoked"))
        }
    }

    @Test func corruptUpstreamCutsTheStreamAndCachesNothing() async throws {
        try await Self.withProxy { proxy in
            let image = proxy.upstream.addImage(tag: "bad", layer: Array(repeating: 9, count: 2_000_000))
            proxy.upstream.corrupt.withLock { _ = $0.insert(image.layer) }
            let path = "/v2/proxy/shop/vendor/team/app/blobs/\(image.layer)"
            do {
                let reply = try await proxy.get(path, authorization: proxy.basic(proxy.licence.secret))
                // Never a complete body: either a failure status or a short one.
                #expect(reply.status != 200 || reply.body.count < 2_000_000)
            } catch {
                // The connection was cut mid-body: what a client must see.
            }
            let store = try BlobStoreProbe(proxy.directory.sub("proxy/store"))
            #expect(!store.holds(image.layer))
            // Fixed upstream: a later pull fetches again and is whole (one that joins the failing
            // download while it winds down fails with it, as a client retry would see).
            proxy.upstream.corrupt.withLock { $0.removeAll() }
            try await waitUntil("a whole blob after the upstream is fixed") {
                guard let good = try? await proxy.get(path, authorization: proxy.basic(proxy.licence.secret)) else { return false }
                return good.status == 200 && Digest.sha256(of: good.body) == image.layer
            }
        }
    }

    /// A range that reaches the blob's end holds its last byte until the blob verified; one that
    /// ends before is sent as it arrives (its client verifies what it assembles).
    @Test func aRangeToTheEndOfACorruptBlobIsNeverSentWhole() async throws {
        try await Self.withProxy { proxy in
            let image = proxy.upstream.addImage(tag: "bad-tail", layer: Array(repeating: 7, count: 2_000_000))
            proxy.upstream.corrupt.withLock { _ = $0.insert(image.layer) }
            do {
                let reply = try await proxy.get(
                    "/v2/proxy/shop/vendor/team/app/blobs/\(image.layer)", authorization: proxy.basic(proxy.licence.secret),
                    headers: ["Range": "bytes=1999000-"])
                #expect(reply.status != 206 || reply.body.count < 1000, "a complete tail of an unverified blob: \(reply.status)")
            } catch {
                // The connection was cut mid-body: what a client must see.
            }
            let store = try BlobStoreProbe(proxy.directory.sub("proxy/store"))
            #expect(!store.holds(image.layer))
        }
    }

    @Test func secretsNeverInResponsesOrDatabase() async throws {
        try await Self.withProxy { proxy in
            let image = proxy.upstream.addImage(tag: "1.0", layer: [4, 5, 6])
            let auth = proxy.basic(proxy.licence.secret)
            _ = try await proxy.get("/v2/")
            _ = try await proxy.get("/v2/", authorization: auth)
            _ = try await proxy.get("/token?scope=repository:proxy/shop/vendor/team/app:pull", authorization: auth)
            _ = try await proxy.get("/v2/proxy/shop/vendor/team/app/manifests/1.0", authorization: auth)
            _ = try await proxy.get("/v2/proxy/shop/vendor/team/app/manifests/missing", authorization: auth)
            _ = try await proxy.get("/v2/proxy/shop/vendor/team/app/blobs/\(image.layer)", authorization: auth)
            _ = try await proxy.get("/v2/proxy/shop/vendor/team/app/tags/list", authorization: auth)
            _ = try await proxy.get("/v2/_catalog", authorization: auth)
            let secrets = [proxy.licence.secret, String(proxy.licence.secret.dropFirst(LicenceID.prefix.count)), FakeUpstream.password]
            for reply in proxy.replies.withLock({ $0 }) {
                let text = reply.text + reply.headers.map { "\($0.name): \($0.value)" }.joined(separator: "\n")
                for secret in secrets { #expect(!text.contains(secret)) }
            }
            // Upstream hosts are not shown to customers either (the tags list and errors name proxy/… only).
            for reply in proxy.replies.withLock({ $0 }) where reply.status != 401 {
                #expect(!reply.text.contains("/v2/team/app"))
            }
            for file in try FileManager.default.subpathsOfDirectory(atPath: proxy.directory.sub("proxy")) {
                guard let data = FileManager.default.contents(atPath: proxy.directory.sub("proxy/\(file)")) else { continue }
                for secret in secrets { #expect(data.range(of: Data(secret.utf8)) == nil, "\(file) holds a secret") }
            }
        }
    }
}

/// Looks at a content store's committed blobs from the outside.
struct BlobStoreProbe {
    let root: String
    init(_ root: String) throws { self.root = root }
    func holds(_ digest: Digest) -> Bool { FileManager.default.fileExists(atPath: "\(root)/blobs/\(digest.algorithm.rawValue)/\(digest.encoded)") }
}
