import FerryCore
import FerryMesh
import FerryServer
import FerryTestSupport
import Foundation
import Testing

/// Bad requests on every listening port (a real `ferry leader`'s and a real `ferry follower`'s,
/// both TLS), sent as raw bytes inside TLS: each gets a clear 4xx with a registry-style error
/// (or, where the request cannot be read at all, a clean close), nothing crashes, and nothing
/// outside the data directories is touched. Every test ends by checking that both processes
/// still run and answer (``BadRequestCluster/with(_:)``).
@Suite("Bad requests", .serialized)
struct BadRequestTests {
    // MARK: Methods

    static let unsupportedMethods = ["PUT", "DELETE", "PATCH", "TRACE", "OPTIONS", "PROPFIND", "BREW", "get", "G(E)T", "\u{1}GET"]

    @Test func unsupportedMethodsOnEveryRouteFamilyAreRegistryErrors() async throws {
        try await BadRequestCluster.with { cluster in
            for (node, url, token) in cluster.nodes {
                let routes = try await cluster.routes(of: node == "leader" ? .leader : .follower)
                #expect(!routes.isEmpty, "\(node): ferry routes lists no route")
                var served: [String: Set<String>] = [:]
                for route in routes {
                    for path in BadRequestCluster.paths(for: route.path) { served[path, default: []].insert(route.method) }
                }
                for (path, methods) in served.sorted(by: { $0.key < $1.key }) {
                    for method in Self.unsupportedMethods where !methods.contains(method) {
                        for fields in [[RawHTTP.bearer(token)], []] {
                            let label = "\(node): \(method.debugDescription) \(path) \(fields.isEmpty ? "without" : "with") credentials"
                            let response = try await cluster.exchange(url, RawHTTP.request(method, path, fields: fields))
                            let status = response?.status ?? 0
                            #expect((400..<500).contains(status), "\(label): \(response?.statusLine ?? "no answer")")
                            #expect(response?.errorCodes != nil, "\(label): not a registry-style error: \(response?.text.prefix(200) ?? "")")
                        }
                    }
                }
                // Asterisk-form and absolute-form targets, and CONNECT.
                for request in ["OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n", "GET http://elsewhere/../../canary HTTP/1.1\r\nHost: x\r\n\r\n"] {
                    let response = try await cluster.exchange(url, request)
                    #expect((400..<500).contains(response?.status ?? 0), "\(node): \(request.prefix(40).debugDescription): \(response?.statusLine ?? "no answer")")
                    #expect(response?.errorCodes != nil, "\(node): \(request.prefix(40).debugDescription): \(response?.text.prefix(200) ?? "")")
                }
                let connect = try await cluster.exchange(url, "CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: 127.0.0.1:22\r\n\r\n", timeout: .seconds(20))
                if let connect {
                    #expect((400..<500).contains(connect.status), "\(node): CONNECT: \(connect.statusLine)")
                }
            }
        }
    }

    // MARK: Names and digests

    /// `/v2/` paths with malformed or traversing names and digests. The canary sits beside the
    /// data directories, so `../` chains of every depth from the store lead to it.
    static var badRegistryPaths: [String] {
        let hex = String(repeating: "ab", count: 32)
        let digest = "sha256:\(hex)"
        let hops = (1...8).map { String(repeating: "../", count: $0) + "canary" }
        var paths: [String] = []
        for hop in hops {
            paths += [
                "/v2/\(hop)/blobs/\(digest)", "/v2/\(hop)/manifests/latest", "/v2/\(hop)/manifests/\(digest)", "/v2/\(hop)/tags/list",
                "/v2/lib/app/blobs/sha256:\(hop)", "/v2/lib/app/manifests/sha256:\(hop)", "/v2/lib/app/manifests/\(hop)",
                "/v2/lib/app/blobs/" + hop.replacingOccurrences(of: "/", with: "%2F"),
                "/v2/lib/app/blobs/sha256:" + hop.replacingOccurrences(of: "/", with: "%2F"),
                "/v2/lib/app/manifests/" + hop.replacingOccurrences(of: "/", with: "%2f").replacingOccurrences(of: ".", with: "%2e"),
                "/v2/" + hop.replacingOccurrences(of: ".", with: "%2e") + "/blobs/\(digest)",
                "/v2/lib/app/tags/list?ns=" + hop.replacingOccurrences(of: "/", with: "%2F"),
                "/v2/lib/app/manifests/latest?ns=\(hop)",
            ]
        }
        paths += [
            "/v2/lib/app/blobs/sha256:../../etc/passwd", "/v2/lib/app/blobs/sha256:..%2F..%2Fetc%2Fpasswd",
            "/v2/%2e%2e/%2e%2e/etc/passwd/blobs/\(digest)", "/v2/lib%2F..%2F..%2Fcanary/manifests/latest",
            "/v2/lib/app/blobs/sha256:\(hex.uppercased())", "/v2/lib/app/blobs/sha256:\(hex.dropLast())",
            "/v2/lib/app/blobs/sha256:\(hex)a", "/v2/lib/app/blobs/sha256:", "/v2/lib/app/blobs/sha256", "/v2/lib/app/blobs/:\(hex)",
            "/v2/lib/app/blobs/sha512:\(hex)", "/v2/lib/app/blobs/md5:\(hex.prefix(32))", "/v2/lib/app/blobs/SHA256:\(hex)",
            "/v2/lib/app/blobs/sha256:\(hex)%00", "/v2/lib/app/blobs/sha256:%00\(hex.dropFirst())", "/v2/lib/app/blobs/\(digest)%2F..",
            "/v2/lib/app/manifests/sha256:\(hex.uppercased())", "/v2/lib/app/manifests/sha256:\(hex.prefix(10))",
            "/v2/lib%00/app/blobs/\(digest)", "/v2/lib/app%00.txt/manifests/latest", "/v2/lib/app/manifests/latest%00",
            "/v2/lib/app/manifests/%00", "/v2/lib/app/manifests/..", "/v2/lib/app/manifests/.", "/v2/../blobs/\(digest)",
            "/v2/lib\\..\\..\\canary/blobs/\(digest)", "/v2/LIB/APP/manifests/latest", "/v2/lib/app/manifests/-latest",
            "/v2//lib//app/blobs/\(digest)", "/v2/lib/app/blobs/", "/v2/lib/app/blobs/\(digest)/", "/v2/./lib/./app/tags/list",
            "/v2/lib/app/tags/list?n=-1", "/v2/lib/app/tags/list?n=99999999999999999999999", "/v2/lib/app/tags/list?last=../../canary&ns=x",
            "/v2/lib/app/tags/list?ns=%00", "/v2/lib/%C3%A9/manifests/latest", "/v2/lib/app/manifests/" + String(repeating: "t", count: 200),
            "/v2/" + String(repeating: "a/", count: 2000) + "blobs/\(digest)",
            "/v2/" + String(repeating: "a", count: 10_000) + "/manifests/latest",
            "/v2/lib/app/blobs/sha256:" + String(repeating: "a", count: 10_000),
        ]
        return paths
    }

    @Test func malformedAndTraversingNamesAndDigestsAre4xxAndTouchNothing() async throws {
        try await BadRequestCluster.with { cluster in
            let stores = [cluster.dir.sub("leader/store"), cluster.dir.sub("follower/store")]
            let storesBefore = stores.map(fileTree)
            let topBefore = Set(try FileManager.default.contentsOfDirectory(atPath: cluster.dir.path))
            for (node, url, token) in cluster.nodes {
                for path in Self.badRegistryPaths {
                    for method in ["GET", "HEAD"] {
                        let response = try await cluster.exchange(
                            url, RawHTTP.request(method, path, fields: [RawHTTP.bearer(token)]), head: method == "HEAD")
                        let label = "\(node): \(method) \(path.prefix(120))"
                        #expect([400, 404].contains(response?.status ?? 0), "\(label): \(response?.statusLine ?? "no answer")")
                        if method == "GET" {
                            #expect(response?.errorCodes != nil, "\(label): not a registry-style error: \(response?.text.prefix(200) ?? "")")
                        }
                    }
                }
                // Bytes no client should put in a request line: NUL, raw non-ASCII, invalid UTF-8.
                for raw: [UInt8] in [[0], [0xC3, 0xA9], [0xFF, 0xFE], [0x2E, 0x2E, 0x2F, 0x00]] {
                    let request = Array("GET /v2/lib/".utf8) + raw + Array("/manifests/latest HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(token)\r\n\r\n".utf8)
                    let response = try await cluster.exchange(url, request)
                    #expect([400, 404].contains(response?.status ?? 0), "\(node): raw bytes \(raw) in the path: \(response?.statusLine ?? "no answer")")
                    #expect(response?.errorCodes != nil, "\(node): raw bytes \(raw): \(response?.text.prefix(200) ?? "")")
                }
            }
            #expect(stores.map(fileTree) == storesBefore, "a store gained or lost files")
            #expect(Set(try FileManager.default.contentsOfDirectory(atPath: cluster.dir.path)) == topBefore, "files appeared beside the data directories")
            let suspicious = fileTree(cluster.dir.path).filter { $0 != "canary" && ($0.contains("canary") || $0.contains("passwd")) }
            #expect(suspicious.isEmpty, "files named after traversal targets: \(suspicious)")
        }
    }
}
