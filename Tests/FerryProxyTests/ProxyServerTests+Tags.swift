import FerryCore
import FerryProxy
import Foundation
import NIOHTTP1
import Synchronization
import Testing

extension ProxyServerTests {
    @Test func aManifestByTagCostsOneUpstreamRequest() async throws {
        try await Self.withProxy { proxy in
            let image = proxy.upstream.addImage(tag: "2.0", layer: Array(repeating: 5, count: 1000))
            let reply = try await proxy.get("/v2/proxy/shop/vendor/team/app/manifests/2.0", authorization: proxy.basic(proxy.licence.secret))
            #expect(reply.status == 200 && Digest.sha256(of: reply.body) == image.manifest)
            #expect(reply.headers.first(name: "Docker-Content-Digest") == image.manifest.description)
            // A GET by tag upstream (twice: the first request of the process meets the Basic
            // challenge), not a HEAD and then a GET by digest.
            let manifests = proxy.upstream.requests.withLock { $0.filter { $0.contains("/manifests/") } }
            #expect(Set(manifests) == ["GET /v2/team/app/manifests/2.0"], "\(manifests)")
            // Within the tag TTL the same tag is answered by the digest it named.
            let again = try await proxy.get("/v2/proxy/shop/vendor/team/app/manifests/2.0", authorization: proxy.basic(proxy.licence.secret))
            #expect(again.status == 200 && again.body == reply.body)
            #expect(!proxy.upstream.requests.withLock { $0.contains { $0.hasPrefix("HEAD") && $0.contains("/manifests/") } })
        }
    }
}
