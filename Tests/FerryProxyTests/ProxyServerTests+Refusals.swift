import AsyncHTTPClient
import FerryCore
import FerryProxy
import FerryTestSupport
import Foundation
import NIOCore
import NIOHTTP1
import Synchronization
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

    /// An audit revoked a licence without --max-rate: a customer reading slowly got the whole
    /// blob 67 s later, and a request waiting for the licence's slot got it all after the revoke.
    @Test("a revoke cuts a download its customer reads slowly (no rate limit), and a request waiting for the licence's slot is refused at its turn")
    func aRevokeCutsASlowReaderAndTheWaiters() async throws {
        try await Self.withProxy(configuration: ProxyConfiguration(maxStreamsPerLicence: 1, maxStreamWait: .seconds(30))) { proxy in
            // Larger than the loopback socket buffers: the proxy's writes wait on the reader.
            let layer = (0..<24_000_000).map { UInt8($0 % 251) }
            let image = proxy.upstream.addImage(tag: "unlimited", layer: layer)
            let id = LicenceID.generate()
            let licence = try await proxy.database.createLicence(hash: id.hash, app: "shop", customer: "unlimited", images: [], expiresAt: nil, maxRate: nil)
            let path = "/v2/proxy/shop/vendor/team/app/blobs/\(image.layer)"
            let reader = try proxy.customer(path, authorization: proxy.basic(id.secret))
            try await reader.waitForBody()  // then reads nothing more
            let waiter = Task { try await proxy.get(path, authorization: proxy.basic(id.secret)) }
            try await Task.sleep(for: .milliseconds(300))
            _ = try await proxy.database.revokeLicence(id: licence.id)
            let waited = try await waiter.value
            #expect(waited.status == 403, "the waiter got \(waited.status), \(waited.body.count) bytes")
            try await waitUntil("the slow reader's download cut and audited", timeout: .seconds(10)) {
                try await proxy.database.pulls(licence: licence.id).filter { $0.kind == "blob" && $0.status == 403 }.count == 2
            }
            let cut = try await proxy.database.pulls(licence: licence.id).filter { $0.kind == "blob" }
            #expect(cut.allSatisfy { $0.bytes < Int64(layer.count) }, "\(cut)")
            reader.reset()
        }
    }

    @Test("a download the customer closes before its end is audited as 499 with the customer's address, not as the upstream's 502")
    func aDownloadTheCustomerClosesIsAuditedAsSuch() async throws {
        try await Self.withProxy { proxy in
            let (layer, image, slow, licence) = try await Self.slowDownload(proxy, tag: "left", customer: "impatient")
            // The customer reads the first bytes of the body, then resets its connection.
            let customer = try proxy.customer("/v2/proxy/shop/vendor/team/app/blobs/\(image.layer)", authorization: proxy.basic(slow.secret))
            try await customer.waitForBody()
            customer.reset()
            try await waitUntil("the closed download audited") { try await proxy.database.pulls(licence: licence.id).contains { $0.kind == "blob" } }
            let pulls = try await proxy.database.pulls(licence: licence.id).filter { $0.kind == "blob" }
            #expect(pulls.count == 1 && pulls[0].status == 499 && pulls[0].client == "127.0.0.1", "\(pulls)")
            #expect(pulls.first.map { $0.bytes > 0 && $0.bytes < Int64(layer.count) } == true, "\(pulls)")
        }
    }

    @Test("a request waiting for a licence's stream slot whose customer resets its connection gives its turn back: the next request streams")
    func aWaiterWhoseCustomerLeftGivesItsTurnBack() async throws {
        try await Self.withProxy(configuration: ProxyConfiguration(maxStreamsPerLicence: 1, maxStreamWait: .seconds(30))) { proxy in
            let (_, image, slow, _) = try await Self.slowDownload(proxy, tag: "turn", customer: "turn")
            let path = "/v2/proxy/shop/vendor/team/app/blobs/\(image.layer)"
            // A holds the licence's one slot.
            let holder = try proxy.customer(path, authorization: proxy.basic(slow.secret))
            try await holder.waitForBody()
            // B waits for it, then resets its connection (as a killed client or a load balancer's timeout).
            let waiting = try proxy.customer(path, authorization: proxy.basic(slow.secret))
            try await Task.sleep(for: .milliseconds(500))
            waiting.reset()
            // A ends: its slot passes to B, whose customer is gone.
            holder.reset()
            // C gets the slot at once (the code before 2026-12-06 kept it for good: C waited, then 429).
            var request = HTTPClientRequest(url: proxy.url + path)
            request.headers.add(name: "Authorization", value: proxy.basic(slow.secret))
            let started = ContinuousClock.now
            let next = try await HTTPClient.shared.execute(request, timeout: .seconds(20))
            #expect(next.status == .ok, "\(next.status) after \(ContinuousClock.now - started)")
        }
    }

    /// A customer that stops reading holds one of its licence's stream slots only until the send
    /// timeout: without it, `--max-streams-per-licence` such customers stopped the licence's pulls.
    @Test("a customer that stops reading is cut after the send timeout, audited as closed, and its licence's slot passes on")
    func aCustomerThatStopsReadingFreesItsSlot() async throws {
        let configuration = ProxyConfiguration(maxStreamsPerLicence: 1, maxStreamWait: .seconds(60), sendTimeout: .seconds(2))
        try await Self.withProxy(configuration: configuration) { proxy in
            let layer = (0..<(24 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ $0 >> 13) }
            let image = proxy.upstream.addImage(tag: "stall", layer: layer)
            let path = "/v2/proxy/shop/vendor/team/app/blobs/\(image.layer)"
            let licence = proxy.basic(proxy.licence.secret)
            let stalled = try proxy.customer(path, authorization: licence, receiveBuffer: 4096)
            try await stalled.waitForBody()
            // It reads nothing more; the next download of the licence waits for its slot, then
            // streams. (Only its first bytes are read here: a client task held up for longer than
            // the short timeout on a loaded machine would be cut too, as the CI run of e45ac16 saw.)
            let next = try proxy.customer(path, authorization: licence)
            let status = try await next.waitForBody(timeout: .seconds(90))
            #expect(status.hasPrefix("HTTP/1.1 200"), "\(status)")
            try await waitUntil("the stalled download audited") {
                try await proxy.database.pulls().contains { $0.kind == "blob" && $0.status == 499 && $0.bytes < Int64(layer.count) }
            }
            withExtendedLifetime((stalled, next)) {}
        }
    }
}
