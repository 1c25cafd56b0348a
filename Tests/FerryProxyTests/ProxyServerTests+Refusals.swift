import AsyncHTTPClient
import FerryCore
import FerryProxy
import FerryTestSupport
import Foundation
import NIOCore
import NIOHTTP1
import Testing

/// What a vendor sees of refused customers: refused pulls in the audit, a revoke that cuts
/// downloads under way, and a token endpoint that challenges a wrong login to Basic again.
extension ProxyServerTests {
    @Test func refusedPullsAreAuditedAndTheTokenEndpointChallengesToBasic() async throws {
        try await Self.withProxy { proxy in
            proxy.upstream.addImage(tag: "1.0", layer: [1, 2, 3])
            let path = "/v2/proxy/shop/vendor/team/app/manifests/1.0"
            let licence = try #require(try await proxy.database.licence(hash: proxy.licence.hash))
            // Outside the licence's app.
            #expect(try await proxy.get("/v2/proxy/other/vendor/team/app/manifests/1.0", authorization: proxy.basic(proxy.licence.secret)).status == 403)
            // An expired licence.
            let late = LicenceID.generate()
            let expired = try await proxy.database.createLicence(
                hash: late.hash, app: "shop", customer: "late", images: [], expiresAt: Date().addingTimeInterval(-60), maxRate: nil)
            #expect(try await proxy.get(path, authorization: proxy.basic(late.secret)).status == 403)
            // An unknown licence: refused, and no row (there is no licence to name).
            #expect(try await proxy.get(path, authorization: proxy.basic(LicenceID.generate().secret)).status == 401)
            // The token endpoint: a wrong login is challenged to Basic, as a missing one is.
            let token = try await proxy.get("/token?service=ferry-proxy&scope=repository:proxy/shop/vendor/team/app:pull", authorization: proxy.basic("wrong"))
            #expect(token.status == 401)
            #expect(token.headers.first(name: "WWW-Authenticate")?.hasPrefix("Basic ") == true, "\(token.headers)")
            // A revoked licence.
            _ = try await proxy.database.revokeLicence(id: licence.id)
            #expect(try await proxy.get(path, authorization: proxy.basic(proxy.licence.secret)).status == 403)

            let pulls = try await proxy.database.pulls()
            let refused = pulls.filter { $0.status == 403 }.map { "\($0.licence) \($0.repository)" }.sorted()
            #expect(
                refused
                    == [
                        "\(licence.id) proxy/other/vendor/team/app", "\(licence.id) proxy/shop/vendor/team/app", "\(expired.id) proxy/shop/vendor/team/app",
                    ].sorted(), "\(pulls)")
            #expect(pulls.count == 3, "only the refusals were pulls: \(pulls)")
        }
    }

    /// A 2 MB layer under `tag` and a licence limited to 64 KiB/s: its download would take 30 s.
    static func slowDownload(_ proxy: Harness, tag: String, customer: String) async throws -> ([UInt8], (manifest: Digest, layer: Digest), LicenceID, Licence) {
        let layer = (0..<2_000_000).map { UInt8($0 % 249) }
        let image = proxy.upstream.addImage(tag: tag, layer: layer)
        let slow = LicenceID.generate()
        let licence = try await proxy.database.createLicence(
            hash: slow.hash, app: "shop", customer: customer, images: [], expiresAt: nil, maxRate: 64 * 1024)
        return (layer, image, slow, licence)
    }

    @Test func aRevokeCutsTheLicencesDownloadsUnderWay() async throws {
        try await Self.withProxy { proxy in
            let (layer, image, slow, licence) = try await Self.slowDownload(proxy, tag: "slow", customer: "slow")
            let path = "/v2/proxy/shop/vendor/team/app/blobs/\(image.layer)"
            let download = Task { try await proxy.get(path, authorization: proxy.basic(slow.secret)) }
            try await Task.sleep(for: .milliseconds(700))
            _ = try await proxy.database.revokeLicence(id: licence.id)
            if let reply = try? await download.value {
                #expect(reply.status != 200 || reply.body.count < layer.count, "a revoked licence's download ran to its end")
            }
            // Cut about a second after the revoke (the re-read, then one 64 KiB slice at the rate), far from the blob's end.
            try await waitUntil("the cut download audited") { try await proxy.database.pulls(licence: licence.id).contains { $0.status == 403 } }
            let cut = try #require(try await proxy.database.pulls(licence: licence.id).first { $0.status == 403 })
            #expect(cut.bytes < Int64(layer.count) / 2, "cut well before its end: \(cut.bytes) bytes sent")
        }
    }

    @Test("a download the customer closes before its end is audited as 499 with the customer's address, not as the upstream's 502")
    func aDownloadTheCustomerClosesIsAuditedAsSuch() async throws {
        try await Self.withProxy { proxy in
            // The customer gives up after 0.7 s.
            let (layer, image, slow, licence) = try await Self.slowDownload(proxy, tag: "left", customer: "impatient")
            var request = HTTPClientRequest(url: proxy.url + "/v2/proxy/shop/vendor/team/app/blobs/\(image.layer)")
            request.headers.add(name: "Authorization", value: proxy.basic(slow.secret))
            let download = Task {
                let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
                return try await response.body.collect(upTo: 64 * 1024 * 1024).readableBytes
            }
            try await Task.sleep(for: .milliseconds(700))
            download.cancel()
            await #expect(throws: (any Error).self) { _ = try await download.value }
            try await waitUntil("the closed download audited") { try await proxy.database.pulls(licence: licence.id).contains { $0.kind == "blob" } }
            let pulls = try await proxy.database.pulls(licence: licence.id).filter { $0.kind == "blob" }
            #expect(pulls.count == 1 && pulls[0].status == 499 && pulls[0].client == "127.0.0.1", "\(pulls)")
            #expect(pulls.first.map { $0.bytes > 0 && $0.bytes < Int64(layer.count) } == true, "\(pulls)")
        }
    }
}
