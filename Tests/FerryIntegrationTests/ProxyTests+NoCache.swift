import FerryCore
import FerryTestSupport
import Foundation
import Testing

/// `ferry proxy serve --no-cache`: every blob streamed from upstream, verified while it streams,
/// nothing written to the content store.
extension ProxyTests {
    @Test("--no-cache streams every pull from upstream, verified (a corrupted blob is cut), ranges too, and writes nothing to the store")
    func noCacheStreamsOnly() async throws {
        try await ProxyFixture.with("proxy-nocache", images: Self.faultImages, faults: FaultProxy.Plan(), arguments: ["--no-cache"]) { proxy in
            let licence = try await proxy.createLicence()
            let layer = try #require(try await proxy.blobs(licence: licence.id).first)
            let upstreamGets = { proxy.faults!.requests.filter { $0.method == "GET" && $0.path.hasSuffix("/blobs/\(layer.digest)") }.count }
            for _ in 0..<2 {
                let response = try #require(try await proxy.blob(layer.digest, licence: licence.id))
                #expect(response.status == 200 && response.body.count == Int(layer.size), "\(response.statusLine)")
                #expect(Digest.sha256(of: response.body) == layer.digest)
            }
            #expect(upstreamGets() == 2, "each pull streamed from upstream")
            // A range: 206 with exactly those bytes (the proxy still fetches and verifies the whole blob).
            let full = try #require(try await proxy.blob(layer.digest, licence: licence.id)).body
            let ranged = try #require(try await proxy.blob(layer.digest, licence: licence.id, headers: ["Range": "bytes=1000-1999"]))
            #expect(ranged.status == 206 && ranged.body == Array(full[1000..<2000]), "\(ranged.statusLine)")
            let tail = try #require(try await proxy.blob(layer.digest, licence: licence.id, headers: ["Range": "bytes=\(layer.size - 10)-"]))
            #expect(tail.status == 206 && tail.body == Array(full.suffix(10)), "\(tail.statusLine)")

            // Corrupted upstream: the transfer is cut before its last byte, and counted.
            proxy.faults!.update { $0.corruptBlobs = true }
            let cut = try await proxy.blob(layer.digest, licence: licence.id)
            #expect(cut == nil || cut!.body.count < Int(layer.size), "a complete response to a corrupted blob: \(cut?.statusLine ?? "")")
            #expect(try await proxy.metric("ferry_proxy_digest_mismatches_total", [#"app="shop""#]) >= 1)

            // skopeo through the uncached proxy: the image is whole.
            proxy.faults!.update { $0.corruptBlobs = false }
            try await Self.skopeo(["--src-creds", "x:\(licence.id)", "docker://\(proxy.host)/proxy/shop/vendor/\(ProxyFixture.app)", "dir:\(proxy.dir.sub("through"))"])
            #expect(FileManager.default.contents(atPath: proxy.dir.sub("through") + "/" + layer.digest.encoded).map { Digest.sha256(of: $0) } == layer.digest)

            // Nothing in the store: no blob, no manifest, no partial.
            let stored = proxy.storedBlobs()
            #expect(stored.committed.isEmpty && stored.partial.isEmpty, "\(stored)")
        }
    }
}
