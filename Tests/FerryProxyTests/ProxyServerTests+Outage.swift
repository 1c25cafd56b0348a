import FerryCore
import FerryProxy
import HTTPTypes
import Foundation
import NIOHTTP1
import Synchronization
import Testing

extension ProxyServerTests {
    /// A proxy that asks the upstream on every request (no tag TTL, no outage hold).
    static let askingEveryTime = ProxyConfiguration(tagTTL: .zero, outageHold: .zero)

    /// docs/proxy.md, *Upstream outages*: the cache answers for the registry only while it gives
    /// no answer; what it answered it no longer has is not brought back by a later outage.
    @Test("While the upstream fails the cache answers; a 404 the upstream gave drops the record, so the next outage does not bring the tag or digest back")
    func outageAnswersAndForgets() async throws {
        try await Self.withProxy(configuration: Self.askingEveryTime) { proxy in
            let image = proxy.upstream.addImage(tag: "1.4", layer: Array(repeating: 5, count: 2000))
            let name = "proxy/shop/vendor/team/app"
            let licence = proxy.basic(proxy.licence.secret)
            /// The status, and for a 200 the digest served.
            func status(_ reference: String) async throws -> String {
                let reply = try await proxy.get("/v2/\(name)/manifests/\(reference)", authorization: licence)
                return reply.status == 200 ? "200 \(reply.headers.first(name: "Docker-Content-Digest") ?? "-")" : "\(reply.status)"
            }
            let blobPath = "/v2/\(name)/blobs/\(image.layer)"
            let served = "200 \(image.manifest)"
            let answer1 = try await status("1.4")
            #expect(answer1 == served)
            let answer2 = try await proxy.get(blobPath, authorization: licence).status
            #expect(answer2 == 200)

            // Down: the tag names what it named, the manifest and the blob come from the store.
            proxy.upstream.failing.withLock { $0 = true }
            let answer3 = try await status("1.4")
            #expect(answer3 == served)
            let answer4 = try await status(image.manifest.description)
            #expect(answer4 == served)
            let answer5 = try await proxy.get(blobPath, authorization: licence).status
            #expect(answer5 == 200)

            // Back, without the tag: its 404 is passed on, and forgotten.
            proxy.upstream.failing.withLock { $0 = false }
            _ = proxy.upstream.manifests.withLock { $0.removeValue(forKey: "1.4") }
            let answer6 = try await status("1.4")
            #expect(answer6 == "404")
            proxy.upstream.failing.withLock { $0 = true }
            let answer7 = try await status("1.4")
            #expect(answer7 == "502", "a tag the upstream said it no longer has")
            let answer8 = try await status(image.manifest.description)
            #expect(answer8 == served, "the digest is still confirmed")
            // (A digest confirmed in this process is served from the store without asking the
            // upstream again, as before: its 404 is seen, and forgotten, only by a later process.)
        }
    }

    /// A review found a confirmed blob's size answered for it after its download failed, until the
    /// process restarted: a blob gone upstream, or an upstream down, got `200` and a connection
    /// cut after the retries, request after request.
    @Test("A confirmed blob not held is asked about again past the tag TTL: with the upstream down a 502, gone upstream a 404")
    func aConfirmedBlobNotHeldIsAskedAgain() async throws {
        try await Self.withProxy(configuration: Self.askingEveryTime) { proxy in
            let image = proxy.upstream.addImage(tag: "1.4", layer: Array(repeating: 9, count: 3000))
            let path = "/v2/proxy/shop/vendor/team/app/blobs/\(image.layer)"
            let licence = proxy.basic(proxy.licence.secret)
            // Confirmed by a HEAD (nothing downloaded), then down past the tag TTL (zero here):
            // the upstream is asked again, an outage, not a 200 cut after the retries.
            #expect(try await proxy.get(path, method: .HEAD, authorization: licence).status == 200)
            proxy.upstream.failing.withLock { $0 = true }
            let down = try await proxy.get(path, authorization: licence)
            #expect(down.status == 502, "\(down.status) \(down.text)")
            // Back, but the blob deleted: its 404 passed on.
            proxy.upstream.failing.withLock { $0 = false }
            _ = proxy.upstream.blobs.withLock { $0.removeValue(forKey: image.layer) }
            let gone = try await proxy.get(path, authorization: licence)
            #expect(gone.status == 404 && gone.text.contains("BLOB_UNKNOWN"), "\(gone.status) \(gone.text)")
            #expect(proxy.upstream.blobGets.withLock { $0[image.layer] ?? 0 } == 0, "nothing was downloaded")
        }
    }

    @Test("Within the tag TTL the size a HEAD gave answers; a download that finds the blob gone drops it, and the next request is a 404")
    func aFailedDownloadDropsTheSize() async throws {
        try await Self.withProxy(configuration: ProxyConfiguration(tagTTL: .seconds(600))) { proxy in
            let image = proxy.upstream.addImage(tag: "1.4", layer: Array(repeating: 8, count: 3000))
            let path = "/v2/proxy/shop/vendor/team/app/blobs/\(image.layer)"
            let licence = proxy.basic(proxy.licence.secret)
            #expect(try await proxy.get(path, method: .HEAD, authorization: licence).status == 200)
            _ = proxy.upstream.blobs.withLock { $0.removeValue(forKey: image.layer) }
            // Answered from the size (customers pulling at once ask once), cut when the download fails.
            if let first = try? await proxy.get(path, authorization: licence) {
                #expect(first.status != 200 || first.body.count < 3000, "a whole blob the upstream no longer has")
            }
            let gone = try await proxy.get(path, authorization: licence)
            #expect(gone.status == 404 && gone.text.contains("BLOB_UNKNOWN"), "\(gone.status) \(gone.text)")
        }
    }

    /// A review found a `HEAD` answering `Content-Length: 0` made a complete, empty `200`: the
    /// emptiness was checked only in the body, after the head was sent.
    @Test("An upstream that says a blob with content is empty is refused before anything is sent, and nothing of it is kept")
    func anEmptyAnswerForABlobWithContent() async throws {
        try await Self.withProxy { proxy in
            let bytes = Array(repeating: UInt8(4), count: 2500)
            let image = proxy.upstream.addImage(tag: "1.4", layer: bytes)
            let path = "/v2/proxy/shop/vendor/team/app/blobs/\(image.layer)"
            let licence = proxy.basic(proxy.licence.secret)
            proxy.upstream.emptyHeads.withLock { _ = $0.insert(image.layer) }
            for method in [HTTPMethod.GET, .HEAD] {
                let reply = try await proxy.get(path, method: method, authorization: licence)
                #expect(reply.status == 502, "\(method): \(reply.status) \(reply.headers)")
            }
            // The upstream mended: the blob is served whole, its size not remembered as 0.
            proxy.upstream.emptyHeads.withLock { $0.removeAll() }
            let served = try await proxy.get(path, authorization: licence)
            #expect(served.status == 200 && served.body == bytes, "\(served.status), \(served.body.count) bytes")
        }
    }

    @Test("An upstream answering 410 Gone or 451 is answering, not down: the cache does not answer in its place")
    func goneAndLegalRefusalsAreAnswers() async throws {
        try await Self.withProxy(configuration: Self.askingEveryTime) { proxy in
            _ = proxy.upstream.addImage(tag: "1.4", layer: Array(repeating: 6, count: 2000))
            let path = "/v2/proxy/shop/vendor/team/app/manifests/1.4"
            let licence = proxy.basic(proxy.licence.secret)
            #expect(try await proxy.get(path, authorization: licence).status == 200)
            // Cached; as an outage (503) the cache would answer 200.
            proxy.upstream.refusing.withLock { $0 = HTTPResponse.Status(code: 451) }
            let legal = try await proxy.get(path, authorization: licence)
            #expect(legal.status == 403 && legal.text.contains("DENIED"), "451: \(legal.status) \(legal.text)")
            proxy.upstream.refusing.withLock { $0 = .gone }
            let gone = try await proxy.get(path, authorization: licence)
            #expect(gone.status == 404 && gone.text.contains("MANIFEST_UNKNOWN"), "410: \(gone.status) \(gone.text)")
            // Gone is forgotten like a 404: a later outage does not bring the tag back.
            proxy.upstream.refusing.withLock { $0 = nil }
            proxy.upstream.failing.withLock { $0 = true }
            #expect(try await proxy.get(path, authorization: licence).status == 502)
        }
    }
}
