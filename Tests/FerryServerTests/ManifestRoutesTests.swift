import FerryCore
import FerryServer
import FerryState
import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import Synchronization
import Testing

@Suite("Manifest routes")
struct ManifestRoutesTests {
    typealias S = ServerFixture
    static let ociOnly: HTTPFields = [.accept: "\(MediaType.ociIndex), \(MediaType.ociManifest)"]

    @Test func getByTagWithOnlyOCITypesAccepted() async throws {
        try await S.withServer { fixture, client in
            let response = try await client.get("/v2/lib/app/manifests/v1", headers: Self.ociOnly)
            #expect(response.status == .ok)
            #expect(response.headers[.contentType] == MediaType.ociIndex)
            #expect(response.bytes == fixture.index)
            #expect(response.headers[.dockerContentDigest] == Digest.sha256(of: response.bytes).description)
            #expect(response.headers[.dockerContentDigest] == fixture.indexDigest.description)
            #expect(response.headers[.contentLength] == String(fixture.index.count))
            #expect(response.headers[.eTag] == "\"\(fixture.indexDigest)\"")
            // A tag's answer depends on Accept: a cache must key on it.
            #expect(response.headers[.vary] == "Accept")
            #expect(try await client.get("/v2/lib/app/manifests/v1").headers[.vary] == "Accept", "without Accept too")
            // The body is a manifest Ferry itself can parse.
            #expect(try ParsedManifest.decode(response.bytes, contentType: response.headers[.contentType]).mediaType == MediaType.ociIndex)
        }
    }

    @Test func headByTagMatchesGet() async throws {
        try await S.withServer { fixture, client in
            let response = try await client.get("/v2/lib/app/manifests/latest", method: .head, headers: Self.ociOnly)
            #expect(response.status == .ok)
            #expect(response.body.readableBytes == 0)
            #expect(response.headers[.contentType] == MediaType.ociIndex)
            #expect(response.headers[.dockerContentDigest] == fixture.indexDigest.description)
            #expect(response.headers[.contentLength] == String(fixture.index.count))
            #expect(response.headers[.vary] == "Accept")
        }
    }

    @Test func getAndHeadByDigest() async throws {
        try await S.withServer { fixture, client in
            let uri = "/v2/lib/app/manifests/\(fixture.manifestDigest)"
            let get = try await client.get(uri, headers: [.accept: MediaType.ociManifest])
            #expect(get.status == .ok)
            #expect(get.headers[.contentType] == MediaType.ociManifest)
            #expect(get.bytes == fixture.manifest)
            #expect(get.headers[.dockerContentDigest] == Digest.sha256(of: get.bytes).description)
            #expect(get.headers[.dockerContentDigest] == fixture.manifestDigest.description)

            let head = try await client.get(uri, method: .head, headers: [.accept: MediaType.ociManifest])
            #expect(head.status == .ok)
            #expect(head.headers[.contentLength] == String(fixture.manifest.count))
            #expect(head.headers[.dockerContentDigest] == fixture.manifestDigest.description)
            // Content by digest is one representation, whatever the Accept.
            #expect(get.headers[.vary] == nil && head.headers[.vary] == nil)
        }
    }

    /// A follower asked for a manifest it has no record of asks its leader (the fallback): by
    /// digest alone when the request names no upstream (Docker and skopeo send no `?ns=`), with
    /// the upstream when it does; a tag without an upstream is never asked.
    @Test func aDigestWithoutNamespaceIsAskedOfTheFallback() async throws {
        let bytes = Array(#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#.utf8)
        let record = ManifestRecord(digest: .sha256(of: bytes), mediaType: MediaType.ociIndex, bytes: bytes)
        let asked = Mutex<[String]>([])
        try await S.withServer(
            defaultRegistry: nil,
            manifestFallback: { registry, repository, reference in
                asked.withLock { $0.append("\(registry ?? "-") \(repository) \(reference)") }
                return reference == record.digest.description ? record : nil
            }
        ) { _, client in
            let plain = try await client.get("/v2/lib/app/manifests/\(record.digest)")
            #expect(plain.status == .ok && plain.headers[.dockerContentDigest] == record.digest.description)
            #expect(Array(plain.body.readableBytesView) == bytes)
            let namespaced = try await client.get("/v2/lib/app/manifests/\(record.digest)?ns=registry.test")
            #expect(namespaced.status == .ok)
            let unknown = try await client.get("/v2/lib/app/manifests/sha256:\(String(repeating: "1", count: 64))")
            #expect(unknown.status == .notFound && unknown.errorCodes == ["MANIFEST_UNKNOWN"])
            let tag = try await client.get("/v2/lib/app/manifests/v9")
            #expect(tag.status == .notFound && tag.errorCodes == ["NAME_UNKNOWN"])
        }
        #expect(
            asked.withLock { $0 } == [
                "- lib/app \(record.digest)", "registry.test lib/app \(record.digest)", "- lib/app sha256:\(String(repeating: "1", count: 64))",
            ])
    }

    @Test func ifNoneMatchGives304() async throws {
        try await S.withServer { fixture, client in
            let response = try await client.get("/v2/lib/app/manifests/v1", headers: [.ifNoneMatch: "\"\(fixture.indexDigest)\""])
            #expect(response.status == .notModified)
            #expect(response.body.readableBytes == 0)
            #expect(response.headers[.vary] == "Accept", "a 304 says what the 200 would (RFC 9110 §15.4.5)")
            // Blobs too, as the CNCF registry answers (content by digest never changes).
            let blob = try await client.get("/v2/lib/app/blobs/\(fixture.layerDigest)", headers: [.ifNoneMatch: "\"\(fixture.layerDigest)\""])
            #expect(blob.status == .notModified && blob.body.readableBytes == 0)
            #expect(blob.headers[.eTag] == "\"\(fixture.layerDigest)\"")
            let other = try await client.get("/v2/lib/app/blobs/\(fixture.layerDigest)", headers: [.ifNoneMatch: "\"\(fixture.indexDigest)\""])
            #expect(other.status == .ok && other.body.readableBytes == fixture.layer.count)
        }
    }

    @Test func missingManifestByTagIs404ManifestUnknown() async throws {
        try await S.withServer { _, client in
            let get = try await client.get("/v2/lib/app/manifests/nope")
            #expect(get.status == .notFound)
            #expect(get.errorCodes == ["MANIFEST_UNKNOWN"])
            #expect(get.headers[.contentType] == "application/json")
            let head = try await client.get("/v2/lib/app/manifests/nope", method: .head)
            #expect(head.status == .notFound)
            #expect(head.body.readableBytes == 0)
            // A known tag of an unknown repository.
            #expect(try await client.get("/v2/lib/other/manifests/v1").errorCodes == ["MANIFEST_UNKNOWN"])
        }
    }

    @Test func missingManifestByDigestIs404ManifestUnknown() async throws {
        try await S.withServer { _, client in
            let absent = Digest.sha256(of: Array("absent".utf8))
            let response = try await client.get("/v2/lib/app/manifests/\(absent)")
            #expect(response.status == .notFound)
            #expect(response.errorCodes == ["MANIFEST_UNKNOWN"])
        }
    }

    static let invalidDigests: [String] = [
        "sha256:totallywrong", "sha256:" + String(repeating: "A", count: 64), "md5:d41d8cd98f00b204e9800998ecf8427e", "sha256:..", "sha256:",
        ":abc",
    ]

    @Test("an invalid digest is 400 DIGEST_INVALID, never 500", arguments: invalidDigests)
    func invalidDigest(_ digest: String) async throws {
        try await S.withServer { _, client in
            let response = try await client.get("/v2/lib/app/manifests/\(digest)")
            #expect(response.status == .badRequest)
            #expect(response.errorCodes == ["DIGEST_INVALID"])
        }
    }

    @Test func anInvalidTagIsA4xx() async throws {
        try await S.withServer { _, client in
            for tag in ["..", ".hidden", "-x", String(repeating: "t", count: 129), "a%2Fb"] {
                let response = try await client.get("/v2/lib/app/manifests/\(tag)")
                #expect((400..<500).contains(response.status.code), "\(tag)")
                #expect(!response.errorCodes.isEmpty)
            }
        }
    }
}

extension ManifestRoutesTests {
    /// The OCI conformance suite asks for `.INVALID_MANIFEST_NAME` and expects 404 MANIFEST_UNKNOWN.
    @Test(arguments: [".INVALID_MANIFEST_NAME", "-dash", String(repeating: "t", count: 129)])
    func invalidTagIs404ManifestUnknown(tag: String) async throws {
        try await S.withServer { _, client in
            let get = try await client.get("/v2/lib/app/manifests/\(tag)")
            #expect(get.status == .notFound)
            #expect(get.errorCodes == ["MANIFEST_UNKNOWN"])
            #expect(get.headers[.contentType] == "application/json")
            let head = try await client.get("/v2/lib/app/manifests/\(tag)", method: .head)
            #expect(head.status == .notFound)
        }
        // Also for a name with no upstream (a leader without --default-registry, no ?ns=): the
        // tag is checked first (it was NAME_UNKNOWN).
        try await S.withServer(defaultRegistry: nil) { _, client in
            let get = try await client.get("/v2/lib/app/manifests/\(tag)")
            #expect(get.status == .notFound && get.errorCodes == ["MANIFEST_UNKNOWN"], "\(get.errorCodes)")
        }
    }
}
