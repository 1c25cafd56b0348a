import FerryCore
import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import Testing

@Suite("ns mapping, bad names and unknown routes")
struct NamespaceAndErrorRoutesTests {
    typealias S = ServerFixture

    @Test func nsSelectsTheUpstreamAndDockerHubGetsLibrary() async throws {
        try await S.withServer { fixture, client in
            for uri in [
                "/v2/alpine/manifests/3?ns=docker.io", "/v2/library/alpine/manifests/3?ns=docker.io",
                "/v2/alpine/manifests/3?ns=index.docker.io", "/v2/alpine/manifests/3?ns=registry-1.docker.io",
                "/v2/bitnami/redis/manifests/7?ns=docker.io",
            ] {
                let response = try await client.get(uri)
                #expect(response.status == .ok, "\(uri)")
                #expect(response.headers[.dockerContentDigest] == fixture.indexDigest.description)
            }
            // Distribution spec, *Registry proxying*: the ns a request was scoped by comes back.
            #expect(try await client.get("/v2/lib/app/manifests/v1?ns=registry.test").headers[HTTPField.Name("OCI-Namespace")!] == "registry.test")
            #expect(try await client.get("/v2/lib/app/blobs/\(fixture.layerDigest)?ns=registry.test", method: .head).headers[HTTPField.Name("OCI-Namespace")!] == "registry.test")
            #expect(try await client.get("/v2/lib/app/manifests/v1").headers[HTTPField.Name("OCI-Namespace")!] == nil)
            #expect(try await client.get("/v2/lib/app/manifests/v1?ns=registry.test%0d%0aX:1").headers[HTTPField.Name("OCI-Namespace")!] == nil, "never echoed unless a host")
            // Without ns, the default upstream (registry.test) is meant.
            #expect(try await client.get("/v2/alpine/manifests/3").status == .notFound)
            #expect(try await client.get("/v2/lib/app/manifests/v1?ns=docker.io").status == .notFound)
            #expect(try await client.get("/v2/lib/app/manifests/v1?ns=registry.test").status == .ok)
            // An empty ns is no ns (the default upstream); one that is no registry host is an
            // unknown name, never a lookup key.
            #expect(try await client.get("/v2/lib/app/manifests/v1?ns=").status == .ok)
            for bad in ["registry.test%0d%0aX:1", "-bad-", "a%20b", "registry.test/x"] {
                let refused = try await client.get("/v2/lib/app/manifests/v1?ns=\(bad)")
                #expect(refused.status == .notFound && refused.errorCodes == ["NAME_UNKNOWN"], "ns=\(bad): \(refused.status)")
            }
        }
    }

    @Test func nsIsCarriedIntoTheTagListLink() async throws {
        try await S.withServer { fixture, client in
            try await fixture.seed("docker.io/library/alpine:edge")
            let first = try await client.get("/v2/alpine/tags/list?n=1&ns=docker.io")
            #expect(first.status == .ok)
            #expect(String(buffer: first.body) == #"{"name":"alpine","tags":["3"]}"#)
            #expect(first.headers[.link] == #"</v2/alpine/tags/list?n=1&last=3&ns=docker.io>; rel="next""#)
            let second = try await client.get("/v2/alpine/tags/list?n=1&last=3&ns=docker.io")
            #expect(String(buffer: second.body) == #"{"name":"alpine","tags":["edge"]}"#)
            #expect(second.headers[.link] == nil)
        }
    }

    @Test func withoutDefaultUpstreamNsIsRequired() async throws {
        try await S.withServer(defaultRegistry: nil) { fixture, client in
            let response = try await client.get("/v2/lib/app/manifests/v1")
            #expect(response.status == .notFound)
            #expect(response.errorCodes == ["NAME_UNKNOWN"])
            #expect(try await client.get("/v2/lib/app/manifests/v1?ns=registry.test").status == .ok)
            // Blobs are found by digest whatever the name maps to, but the name still needs an upstream.
            #expect(try await client.get("/v2/lib/app/blobs/\(fixture.layerDigest)?ns=registry.test").status == .ok)
        }
    }

    static let badNames: [String] = [
        "/v2/../../etc/passwd/manifests/latest",
        "/v2/lib/../../etc/blobs/sha256:" + String(repeating: "a", count: 64),
        "/v2/%2e%2e/%2e%2e/etc/manifests/latest",
        "/v2/Lib/App/manifests/latest",
        "/v2/lib//app/manifests/latest",
        "/v2//manifests/latest",
        "/v2/lib/app-/tags/list",
        "/v2/lib%2Fapp/manifests/latest",
    ]

    @Test("invalid or traversing names are 4xx", arguments: badNames)
    func badNamesAre4xx(_ uri: String) async throws {
        try await S.withServer { _, client in
            let response = try await client.get(uri)
            #expect((400..<500).contains(response.status.code))
            #expect(!response.errorCodes.isEmpty)
        }
    }

    @Test func invalidNamesAreNameInvalid() async throws {
        try await S.withServer { _, client in
            let traversal = try await client.get("/v2/../../etc/passwd/manifests/latest")
            let uppercase = try await client.get("/v2/Lib/App/tags/list")
            #expect(traversal.errorCodes == ["NAME_INVALID"])
            #expect(uppercase.errorCodes == ["NAME_INVALID"])
        }
    }

    @Test(arguments: ["/nope", "/v2/lib/app/uploads/x", "/v2/lib/app/tags/other", "/v2x", "/admin/v1/images"])
    func unknownRoutesAreJSON404(_ uri: String) async throws {
        try await S.withServer { _, client in
            let response = try await client.get(uri)
            #expect(response.status == .notFound)
            #expect(response.headers[.contentType] == "application/json")
            #expect(response.errorCodes.count == 1)
        }
    }

    /// A HEAD that fails announces the length its GET's error body has (RFC 9110 §8.6), and sends none.
    @Test func headErrorsAnnounceTheGetLength() async throws {
        try await S.withServer { _, client in
            for uri in ["/v2/lib/app/blobs/sha256:\(String(repeating: "0", count: 64))", "/v2/lib/app/manifests/nope", "/v2/lib/app/blobs/sha256:bad"] {
                let get = try await client.get(uri)
                let head = try await client.get(uri, method: .head)
                #expect(get.status == head.status && get.status.code >= 400, "\(uri)")
                #expect(head.headers[.contentLength] == String(get.body.readableBytes), "\(uri): \(head.headers)")
                #expect(head.body.readableBytes == 0, "\(uri)")
            }
        }
    }

    @Test func writeMethodsAreNotServed() async throws {
        try await S.withServer { fixture, client in
            for method: HTTPRequest.Method in [.put, .post, .delete, .patch] {
                let response = try await client.get("/v2/lib/app/manifests/v1", method: method)
                #expect(response.status == .methodNotAllowed, "\(method)")
                #expect(response.errorCodes == ["UNSUPPORTED"], "\(method)")
                #expect(response.headers[.allow] == "GET, HEAD", "\(method): RFC 9110 §15.5.6")
            }
            #expect(try await client.get("/v2/lib/app/manifests/v1").headers[.dockerContentDigest] == fixture.indexDigest.description)
        }
    }
}
