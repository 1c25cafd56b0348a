import FerryCore
import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import Testing

@Suite("Blob routes")
struct BlobRoutesTests {
    typealias S = ServerFixture

    @Test func getAndHeadABlob() async throws {
        try await S.withServer { fixture, client in
            let uri = "/v2/lib/app/blobs/\(fixture.layerDigest)"
            let get = try await client.get(uri)
            #expect(get.status == .ok)
            #expect(get.bytes == fixture.layer)
            #expect(get.headers[.contentLength] == "1000")
            #expect(get.headers[.dockerContentDigest] == fixture.layerDigest.description)
            #expect(Digest.sha256(of: get.bytes) == fixture.layerDigest)
            #expect(get.headers[.acceptRanges] == "bytes")

            let head = try await client.get(uri, method: .head)
            #expect(head.status == .ok)
            #expect(head.body.readableBytes == 0)
            #expect(head.headers[.contentLength] == "1000")
            #expect(head.headers[.dockerContentDigest] == fixture.layerDigest.description)
        }
    }

    static let ranges: [(String, Int, Int)] = [
        ("bytes=10-19", 10, 19),
        ("bytes=0-0", 0, 0),
        ("bytes=990-", 990, 999),
        ("bytes=-500", 500, 999),
        ("bytes=-5000", 0, 999),
        ("bytes=900-5000", 900, 999),
    ]

    @Test("Range requests get 206 with Content-Range", arguments: ranges)
    func range(_ header: String, _ first: Int, _ last: Int) async throws {
        try await S.withServer { fixture, client in
            let uri = "/v2/lib/app/blobs/\(fixture.layerDigest)"
            let response = try await client.get(uri, headers: [.range: header])
            #expect(response.status == .partialContent)
            #expect(response.headers[.contentRange] == "bytes \(first)-\(last)/1000")
            #expect(response.headers[.contentLength] == String(last - first + 1))
            #expect(response.bytes == Array(fixture.layer[first...last]))

            let head = try await client.get(uri, method: .head, headers: [.range: header])
            #expect(head.status == .partialContent)
            #expect(head.headers[.contentRange] == "bytes \(first)-\(last)/1000")
        }
    }

    @Test(arguments: ["bytes=1000-", "bytes=5000-6000", "bytes=-0", "bytes=9-2", "bytes=500-0"])
    func unsatisfiableRangeIs416(_ header: String) async throws {
        try await S.withServer { fixture, client in
            let response = try await client.get("/v2/lib/app/blobs/\(fixture.layerDigest)", headers: [.range: header])
            #expect(response.status == .rangeNotSatisfiable)
            #expect(response.headers[.contentRange] == "bytes */1000")
            #expect(response.headers[HTTPField.Name("Docker-Distribution-Api-Version")!] == "registry/2.0")
        }
    }

    @Test(arguments: ["bytes=0-1,5-6", "items=0-5", "bytes=garbage"])
    func unusableRangeGivesTheWholeBlob(_ header: String) async throws {
        try await S.withServer { fixture, client in
            let response = try await client.get("/v2/lib/app/blobs/\(fixture.layerDigest)", headers: [.range: header])
            #expect(response.status == .ok)
            #expect(response.bytes == fixture.layer)
        }
    }

    @Test func missingBlobIs404BlobUnknown() async throws {
        try await S.withServer { _, client in
            let absent = Digest.sha256(of: Array("absent".utf8))
            let get = try await client.get("/v2/lib/app/blobs/\(absent)")
            #expect(get.status == .notFound)
            #expect(get.errorCodes == ["BLOB_UNKNOWN"])
            let head = try await client.get("/v2/lib/app/blobs/\(absent)", method: .head)
            #expect(head.status == .notFound)
        }
    }

    @Test(arguments: ["sha256:totallywrong", "sha256:..%2F..%2Fetc%2Fpasswd", "..%2F..%2Fetc%2Fpasswd", "sha512:abc", "uploads"])
    func invalidDigestIs400(_ digest: String) async throws {
        try await S.withServer { _, client in
            let response = try await client.get("/v2/lib/app/blobs/\(digest)")
            #expect(response.status == .badRequest)
            #expect(response.errorCodes == ["DIGEST_INVALID"])
        }
    }
}
