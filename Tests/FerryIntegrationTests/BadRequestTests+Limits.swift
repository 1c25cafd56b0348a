import FerryCore
import FerryMesh
import FerryServer
import FerryTestSupport
import Foundation
import Testing

/// Requests over the limits (``HTTPLimits``, ``FerryRequestContext/maxBodySize``), bodies that
/// lie about their length or are not JSON, clients that never finish a request, and bytes that
/// are not TLS on the TLS ports.
extension BadRequestTests {
    // MARK: Heads

    @Test func oversizedRequestHeadsAre431() async throws {
        try await BadRequestCluster.with { cluster in
            let big = String(repeating: "a", count: 100 * 1024)
            let many = (0..<2000).map { ("X-Filler-\($0)", String(repeating: "b", count: 40)) }
            for (node, url, token) in cluster.nodes {
                let requests: [(String, [UInt8])] = [
                    ("a 100 KiB header field", RawHTTP.request("GET", "/v2/", fields: [RawHTTP.bearer(token), ("X-Big", big)])),
                    ("a 100 KiB Authorization", RawHTTP.request("GET", "/v2/", fields: [("Authorization", "Bearer " + big)])),
                    ("2000 header fields", RawHTTP.request("GET", "/healthz", fields: many)),
                    ("a 100 KiB request target", RawHTTP.request("GET", "/v2/lib/\(big)/manifests/latest", fields: [RawHTTP.bearer(token)])),
                    ("a 100 KiB admin body header", RawHTTP.request("POST", AdminAPI.fetch, fields: [RawHTTP.bearer(token), ("X-Big", big)], body: Array("{}".utf8))),
                ]
                for (what, request) in requests {
                    let started = ContinuousClock.now
                    var failure: RawHTTPError?
                    var response: RawHTTPResponse?
                    do { response = try await cluster.exchange(url, request) } catch let error as RawHTTPError { failure = error }
                    if response == nil {
                        // Seen once in about ten CI runs under a full parallel `make test`, never
                        // alone nor under CPU load: the connection ended before the answer came,
                        // and once (2026-12-07) its TLS handshake timed out. Recorded as a known
                        // intermittent issue, with how long it took; the refusal is then asserted
                        // on a new connection.
                        let took = ContinuousClock.now - started
                        withKnownIssue("the connection ended without an answer", isIntermittent: true) {
                            Issue.record("\(node): \(what): no answer after \(took) (\(failure.map { "\($0)" } ?? "closed")); asking again on a new connection")
                        }
                        response = try await cluster.exchange(url, request)
                    }
                    #expect(response?.status == 431, "\(node): \(what): \(response?.statusLine ?? "no answer")")
                    #expect(response?.errorCodes == ["HEADERS_TOO_LARGE"], "\(node): \(what): \(response?.text.prefix(200) ?? "")")
                }
                // Just under the limits is fine.
                let fine = try await cluster.exchange(
                    url, RawHTTP.request("GET", "/v2/", fields: [RawHTTP.bearer(token), ("X-Big", String(repeating: "c", count: 12 * 1024))]))
                #expect(fine?.status == 200, "\(node): a 12 KiB header field: \(fine?.statusLine ?? "no answer")")
                try await cluster.expectAlive()
            }
        }
    }

    // MARK: Bodies

    /// The routes that decode a JSON body, with the credential each takes.
    static func jsonRoutes(_ cluster: BadRequestCluster) -> [(path: String, token: String)] {
        [
            (AdminAPI.fetch, cluster.adminToken), (AdminAPI.installs, cluster.adminToken), (MeshAPI.join, cluster.joinToken),
            (MeshAPI.heartbeat, cluster.followerCredential), (MeshAPI.sources, cluster.followerCredential),
            (MeshAPI.sourceBatch, cluster.followerCredential),
            (MeshAPI.blobs, cluster.followerCredential), (MeshAPI.report(target: 1), cluster.followerCredential),
        ]
    }

    @Test func oversizedBodiesAre413() async throws {
        try await BadRequestCluster.with { cluster in
            let limit = FerryRequestContext.maxBodySize
            let body = [UInt8](repeating: UInt8(ascii: " "), count: limit + 64 * 1024)
            // Announced by Content-Length and sent whole: refused, and the connection drained.
            var response = try await cluster.exchange(
                cluster.leaderURL, RawHTTP.request("POST", AdminAPI.fetch, fields: [RawHTTP.bearer(cluster.adminToken)], body: body))
            #expect(response?.status == 413, "POST \(AdminAPI.fetch), \(body.count) bytes: \(response?.statusLine ?? "no answer")")
            #expect(response?.errorCodes == ["REQUEST_TOO_LARGE"], "POST \(AdminAPI.fetch): \(response?.text.prefix(200) ?? "")")
            for (path, token) in Self.jsonRoutes(cluster) {
                // Announced by Content-Length: refused before the body is read, so at once even
                // when the rest never comes.
                let connection = try await cluster.connect(cluster.leaderURL)
                await connection.send(RawHTTP.request("POST", path, fields: [RawHTTP.bearer(token), ("Content-Length", "1099511627776")], body: Array("{\"a\":".utf8)))
                response = await connection.readResponse(timeout: .seconds(20))
                connection.close()
                #expect(response?.status == 413, "POST \(path), Content-Length 1 TiB: \(response?.statusLine ?? "no answer")")
                #expect(response?.errorCodes == ["REQUEST_TOO_LARGE"], "POST \(path), Content-Length 1 TiB: \(response?.text.prefix(200) ?? "")")
                // Chunked, with no length announced: refused once the limit is passed.
                var chunked: [UInt8] = []
                for offset in stride(from: 0, to: body.count, by: 64 * 1024) {
                    let chunk = body[offset..<min(offset + 64 * 1024, body.count)]
                    chunked += Array("\(String(chunk.count, radix: 16))\r\n".utf8) + chunk + Array("\r\n".utf8)
                }
                chunked += Array("0\r\n\r\n".utf8)
                response = try await cluster.exchange(
                    cluster.leaderURL, RawHTTP.request("POST", path, fields: [RawHTTP.bearer(token), ("Transfer-Encoding", "chunked")], body: chunked))
                #expect(response?.status == 413, "POST \(path), chunked: \(response?.statusLine ?? "no answer")")
                #expect(response?.errorCodes == ["REQUEST_TOO_LARGE"], "POST \(path), chunked: \(response?.text.prefix(200) ?? "")")
            }
            // Bodies where none is expected, and without credentials: refused, nothing breaks.
            for (node, url, token) in cluster.nodes {
                for fields in [[RawHTTP.bearer(token)], []] {
                    let response = try await cluster.exchange(url, RawHTTP.request("POST", "/v2/lib/app/blobs/uploads/", fields: fields, body: body))
                    #expect([401, 405].contains(response?.status ?? 0), "\(node): POST /v2/…/uploads/: \(response?.statusLine ?? "no answer")")
                }
            }
        }
    }

    /// Bodies no route can decode: not JSON, not an object, truncated, nested too deep.
    static let undecodableBodies: [[UInt8]] = [
        [], Array("{".utf8), Array("[".utf8), Array("null".utf8), Array("[]".utf8), Array("\"x\"".utf8), Array("1e999999".utf8),
        [0xFF, 0xFE, 0x7B, 0x00], [0xEF, 0xBB, 0xBF] + Array("{\"images\": [".utf8),
        Array(String(repeating: "[", count: 100_000).utf8), Array(String(repeating: "{\"a\":", count: 50_000).utf8),
    ]

    /// Well-formed JSON a route must refuse: traversing names, digests and platforms.
    static func refusedBodies(for path: String) -> [String] {
        switch path {
        case AdminAPI.fetch:
            ["{\"images\": [\"../../canary\"]}", "{\"images\": [\"127.0.0.1:1/a\"], \"platform\": \"linux/../../canary\"}", "{\"images\": 5}", "{\"images\": []}",
             "{\"images\": [\"" + String(repeating: "a", count: 1 << 20) + "\"]}"]
        case AdminAPI.installs:
            ["{\"images\": [\"../../canary\"]}", "{\"images\": [\"127.0.0.1:1/lib/app:1\"], \"platform\": \"linux/../../canary\"}",
             "{\"images\": [\"127.0.0.1:1/lib/app:1\"], \"nodes\": [\"../../canary\"]}", "{\"images\": [\"127.0.0.1:1/lib/app:1\"], \"maxParallel\": -1}"]
        case MeshAPI.join:
            ["{\"name\": \"../../canary\", \"platform\": \"linux/amd64\"}", "{\"name\": \"ok\", \"platform\": \"linux/../../canary\"}",
             "{\"name\": \"" + String(repeating: "a", count: 100) + "\", \"platform\": \"linux/amd64\"}", "{\"name\": \"a\\u0000b\", \"platform\": \"linux/amd64\"}"]
        case MeshAPI.sources:
            ["{\"digest\": \"sha256:../../canary\", \"size\": 1, \"have\": 0, \"repository\": \"lib/app\", \"failed\": []}",
             "{\"digest\": \"\(BadRequestCluster.someDigest)\", \"size\": 1, \"have\": 0, \"repository\": \"../../canary\", \"failed\": []}"]
        case MeshAPI.sourceBatch:
            ["{\"requests\": [{\"digest\": \"sha256:../../canary\", \"size\": 1, \"have\": 0, \"repository\": \"lib/app\", \"failed\": []}]}",
             "{\"requests\": 5}",
             "{\"requests\": [" + Array(
                repeating: "{\"digest\": \"\(BadRequestCluster.someDigest)\", \"size\": 1, \"have\": 0, \"repository\": \"lib/app\", \"failed\": []}",
                count: MeshAPI.maxSourceBatch + 1).joined(separator: ",") + "]}"]
        case MeshAPI.blobs:
            ["{\"events\": [{\"digest\": \"sha256:../../canary\", \"kind\": \"present\", \"size\": 1, \"sources\": []}], \"inventory\": false}",
             "{\"events\": [{\"digest\": \"\(BadRequestCluster.someDigest)\", \"kind\": \"../../canary\", \"size\": 1, \"sources\": []}], \"inventory\": false}"]
        case MeshAPI.report(target: 1):
            ["{\"state\": \"../../canary\", \"bytesDone\": -1}"]
        default:
            []
        }
    }

    @Test func invalidAndTruncatedBodiesAre4xxOrAClose() async throws {
        try await BadRequestCluster.with { cluster in
            for (path, token) in Self.jsonRoutes(cluster) {
                for body in Self.undecodableBodies + Self.refusedBodies(for: path).map({ Array($0.utf8) }) {
                    let response = try await cluster.exchange(cluster.leaderURL, RawHTTP.request("POST", path, fields: [RawHTTP.bearer(token)], body: body))
                    let label = "POST \(path) \(String(decoding: body.prefix(60), as: UTF8.self).debugDescription)"
                    #expect((400..<500).contains(response?.status ?? 0), "\(label): \(response?.statusLine ?? "no answer")")
                    #expect(response?.errorCodes != nil, "\(label): \(response?.text.prefix(200) ?? "")")
                }
                // Shorter than its Content-Length, then the client stops sending.
                let connection = try await cluster.connect(cluster.leaderURL)
                await connection.send(RawHTTP.request("POST", path, fields: [RawHTTP.bearer(token), ("Content-Length", "1000")], body: Array("{\"images\":".utf8)))
                connection.shutdownWrite()
                let truncated = await connection.readResponse(timeout: .seconds(20))
                connection.close()
                if let truncated {
                    #expect((400..<500).contains(truncated.status), "POST \(path), truncated: \(truncated.statusLine)")
                }
            }
            // Framing the parser refuses in the head: 400 with a registry-style body.
            let heads: [(String, [(String, String)], [UInt8])] = [
                ("Content-Length and chunked", [("Content-Length", "5"), ("Transfer-Encoding", "chunked")], Array("0\r\n\r\n".utf8)),
                ("two Content-Lengths", [("Content-Length", "2"), ("Content-Length", "3")], Array("{}".utf8)),
                ("a negative Content-Length", [("Content-Length", "-1")], []),
                ("a Content-Length that is not a number", [("Content-Length", "ten")], []),
                ("a Content-Length over 2^64", [("Content-Length", "99999999999999999999999")], []),
                ("a NUL in a header", [("X-Nul", "a\u{0}b")], []),
            ]
            // …and in a body already being answered: 400 or the connection closed.
            let bodies: [(String, [(String, String)], [UInt8])] = [
                ("a bad chunk size", [("Transfer-Encoding", "chunked")], Array("zz\r\nabc\r\n0\r\n\r\n".utf8)),
                ("a chunk longer than announced", [("Transfer-Encoding", "chunked")], Array("2\r\nabcdef\r\n0\r\n\r\n".utf8)),
            ]
            for (node, url, token) in cluster.nodes {
                for (what, fields, body) in heads {
                    let response = try await cluster.exchange(
                        url, RawHTTP.request("POST", AdminAPI.fetch, fields: [RawHTTP.bearer(token)] + fields, body: body), timeout: .seconds(20))
                    #expect(response?.status == 400, "\(node): \(what): \(response?.statusLine ?? "no answer")")
                    #expect(response?.errorCodes == ["INVALID_ARGUMENT"], "\(node): \(what): \(response?.text.prefix(200) ?? "")")
                }
                for (what, fields, body) in bodies {
                    let response = try await cluster.exchange(
                        url, RawHTTP.request("POST", AdminAPI.fetch, fields: [RawHTTP.bearer(token)] + fields, body: body), timeout: .seconds(20))
                    if let response {
                        #expect((400..<500).contains(response.status), "\(node): \(what): \(response.statusLine)")
                    }
                }
                // HTTP/2 without ALPN or upgrade, and a TLS record inside TLS.
                for (what, bytes) in [("the HTTP/2 preface", Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)),
                                      ("a TLS ClientHello inside TLS", [0x16, 0x03, 0x01, 0x00, 0xA5, 0x01, 0x00, 0x00, 0xA1, 0x03, 0x03] + [UInt8](repeating: 0, count: 40))] {
                    let response = try await cluster.exchange(url, bytes, timeout: .seconds(20))
                    #expect(response?.status == 400 && response?.errorCodes != nil, "\(node): \(what): \(response?.statusLine ?? "no answer")")
                }
            }
            let images = try await cluster.admin.images()
            #expect(images.images.isEmpty, "a bad body queued a fetch: \(images.images.map(\.reference))")
            let installs = try await cluster.admin.installs()
            #expect(installs.installs.isEmpty, "a bad body made an install: \(installs.installs.map(\.images))")
            let nodes = try await cluster.admin.nodes()
            #expect(nodes.nodes.map(\.name) == [BadRequestCluster.followerName], "a bad body joined a node: \(nodes.nodes.map(\.name))")
        }
    }

    // MARK: Slow clients

    /// A batch of sources requests answers each request: one the node may not ask about (a blob
    /// in no image it installs, a repository name that is not one) is refused in its own answer,
    /// as the single route refuses it, and the others are still answered.
    @Test func sourceBatchRefusesEachRequestAlone() async throws {
        try await BadRequestCluster.with { cluster in
            func request(_ repository: String) -> String {
                "{\"digest\": \"\(BadRequestCluster.someDigest)\", \"size\": 1, \"have\": 0, \"repository\": \"\(repository)\", \"failed\": []}"
            }
            for (requests, expected) in [
                ([request("lib/app"), request("../../canary"), request("lib/app")],
                 [FerryError.Code.blobUnknown, .invalidReference, .blobUnknown].map(\.rawValue)),
                ([], []),
            ] {
                let body = "{\"requests\": [\(requests.joined(separator: ","))]}"
                let response = try await cluster.exchange(
                    cluster.leaderURL, RawHTTP.request("POST", MeshAPI.sourceBatch, fields: [RawHTTP.bearer(cluster.followerCredential)], body: Array(body.utf8)))
                #expect(response?.status == 200, "\(response?.statusLine ?? "no answer"): \(response?.text.prefix(300) ?? "")")
                let answer = try FerryJSON.decoder().decode(SourceBatchAnswer.self, from: Data(response?.body ?? []))
                #expect(answer.answers.map { $0.error?.code } == expected, "\(answer)")
                #expect(answer.answers.allSatisfy { $0.list == nil && $0.askAlone == nil })
            }
            try await cluster.expectAlive()
        }
    }

    @Test func slowClientsNeitherBlockOthersNorStayForever() async throws {
        try await BadRequestCluster.with { cluster in
            // A long poll outlasting the idle timeout is not cut: a request being answered is not idle.
            let longPoll = Task {
                let started = ContinuousClock.now
                let response = try await cluster.exchange(
                    cluster.leaderURL, RawHTTP.request("GET", "\(MeshAPI.work)?wait=12", fields: [RawHTTP.bearer(cluster.followerCredential)]),
                    timeout: .seconds(60))
                return (response, ContinuousClock.now - started)
            }
            let opened = ContinuousClock.now
            var stalled: [(String, RawHTTPConnection)] = []
            for (node, url, token) in cluster.nodes {
                for index in 0..<20 {
                    let connection = try await cluster.connect(url)
                    await connection.send("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow-\(index): ")
                    stalled.append(("\(node): half a head", connection))
                }
                for _ in 0..<5 {
                    let silent = try await cluster.connect(url)
                    stalled.append(("\(node): nothing sent", silent))
                    let line = try await cluster.connect(url)
                    await line.send("GE")
                    stalled.append(("\(node): half a request line", line))
                    let body = try await cluster.connect(url)
                    await body.send(RawHTTP.request("POST", AdminAPI.fetch, fields: [RawHTTP.bearer(token), ("Content-Length", "1000")], body: Array("{\"images\":".utf8)))
                    stalled.append(("\(node): half a body", body))
                    let anonymous = try await cluster.connect(url)
                    await anonymous.send(RawHTTP.request("POST", AdminAPI.fetch, fields: [("Content-Length", "1000")], body: Array("{".utf8)))
                    stalled.append(("\(node): half a body, no credential", anonymous))
                }
            }
            defer { for (_, connection) in stalled { connection.close() } }

            // Everyone else is still served, promptly.
            for _ in 0..<5 {
                for (node, url, token) in cluster.nodes {
                    for request in [RawHTTP.request("GET", "/healthz"), RawHTTP.request("GET", "/v2/", fields: [RawHTTP.bearer(token)])] {
                        let started = ContinuousClock.now
                        let response = try await cluster.exchange(url, request, timeout: .seconds(10))
                        let took = ContinuousClock.now - started
                        #expect(response?.status == 200, "\(node) while 40 clients stall: \(response?.statusLine ?? "no answer")")
                        // A server waiting on the stalled clients would answer only once they are
                        // dropped at the idle timeout; a loaded machine is merely slower than that.
                        #expect(took < .seconds(BadRequestCluster.idleTimeout), "\(node) answered in \(took) while 40 clients stall")
                    }
                }
            }

            // The stalled ones are dropped once idle for the idle timeout.
            let deadline = opened + .seconds(BadRequestCluster.idleTimeout) + .seconds(30)
            for (what, connection) in stalled {
                let closed = await connection.closedByPeer(within: max(deadline - ContinuousClock.now, .milliseconds(10)))
                #expect(closed, "\(what): still open \(ContinuousClock.now - opened) after it stalled")
            }

            let (poll, took) = try await longPoll.value
            #expect(poll?.status == 200, "the long poll: \(poll?.statusLine ?? "cut off after \(took)")")
            #expect(took >= .seconds(11), "the long poll answered after \(took), before its wait")
        }
    }

    // MARK: Not TLS

    /// Plain bytes on the TLS listeners (no `openssl`: a bare TCP socket): plain HTTP, a
    /// ClientHello cut short, noise, nothing at all. The handshake fails and the connection is
    /// closed, at once for what cannot be TLS and at the idle timeout for a client that stops
    /// half-way; nothing crashes, and everyone else is still served.
    @Test func bytesThatAreNotTLSOnTheTLSPortsAreClosed() async throws {
        try await BadRequestCluster.with { cluster in
            let clientHelloStart: [UInt8] = [0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xFC, 0x03, 0x03] + [UInt8](repeating: 7, count: 32)
            var noise = SystemRandomNumberGenerator()
            let random = (0..<65_536).map { _ in UInt8.random(in: 0...255, using: &noise) }
            for (node, url, token) in cluster.nodes {
                guard let port = URL(string: url)?.port else { throw FerryError(.internal, "no port in \(url)") }
                let prompt: [(String, [UInt8])] = [
                    ("a plain-HTTP request", RawHTTP.request("GET", "/v2/", fields: [RawHTTP.bearer(token)])),
                    ("a plain-HTTP request for /healthz", RawHTTP.request("GET", "/healthz")),
                    ("64 KiB of noise", random),
                    ("an SSLv2-style hello", [0x80, 0x2E, 0x01, 0x00, 0x02] + [UInt8](repeating: 0, count: 64)),
                ]
                for (what, bytes) in prompt {
                    let connection = try await RawHTTPConnection.connect(port: port)
                    await connection.send(bytes, timeout: .seconds(10))
                    let started = ContinuousClock.now
                    let closed = await connection.closedByPeer(within: .seconds(BadRequestCluster.idleTimeout - 2))
                    connection.close()
                    #expect(closed, "\(node): \(what) on the TLS port: still open after \(ContinuousClock.now - started)")
                }
                var stalled: [(String, RawHTTPConnection)] = []
                for _ in 0..<5 {
                    let silent = try await RawHTTPConnection.connect(port: port)
                    stalled.append(("nothing sent", silent))
                    let half = try await RawHTTPConnection.connect(port: port)
                    await half.send(clientHelloStart)
                    stalled.append(("half a ClientHello", half))
                }
                let opened = ContinuousClock.now
                // Served meanwhile, over TLS.
                let health = try await cluster.exchange(url, RawHTTP.request("GET", "/healthz"), timeout: .seconds(10))
                #expect(health?.status == 200, "\(node) while 10 handshakes stall: \(health?.statusLine ?? "no answer")")
                for (what, connection) in stalled {
                    let deadline = opened + .seconds(BadRequestCluster.idleTimeout) + .seconds(30)
                    let closed = await connection.closedByPeer(within: max(deadline - ContinuousClock.now, .milliseconds(10)))
                    connection.close()
                    #expect(closed, "\(node): \(what): still open \(ContinuousClock.now - opened) later")
                }
            }
        }
    }
}
