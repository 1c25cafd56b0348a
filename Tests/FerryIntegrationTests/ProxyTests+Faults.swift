import FerryCore
import FerryTestSupport
import Foundation
import Testing

/// The vendor's real registry misbehaving behind the proxy (a ``FaultProxy`` between them): what
/// the customer sees, what the proxy keeps, what it counts.
extension ProxyTests {
    /// One 4 MiB layer (and busybox), so a blob is long enough to corrupt or cut mid-way.
    static let faultImages: [String: [TestImages.Layer]] = [ProxyFixture.app: [.init("fl", "4M")]]

    @Test("An upstream that corrupts a blob: the customer's transfer is cut, nothing is cached, the mismatch is counted; once fixed the blob is served right")
    func corruptUpstreamCutsTheTransfer() async throws {
        var plan = FaultProxy.Plan()
        plan.corruptBlobs = true
        try await ProxyFixture.with("proxy-corrupt", images: Self.faultImages, faults: plan) { proxy in
            let licence = try await proxy.createLicence()
            let layer = try #require(try await proxy.blobs(licence: licence.id).first)
            let cut = try await proxy.blob(layer.digest, licence: licence.id)
            #expect(cut == nil || cut!.body.count < Int(layer.size), "a complete response to a corrupted blob: \(cut?.statusLine ?? "")")
            #expect(try await proxy.metric("ferry_proxy_digest_mismatches_total", [#"app="shop""#]) >= 1)
            // Nothing of the wrong bytes stays: no blob, and the partial is discarded.
            try await waitUntil("the partial to be discarded") { proxy.storedBlobs().partial.isEmpty }
            #expect(!proxy.storedBlobs().committed.contains(layer.digest.encoded))

            // The upstream is fixed: the same request gets the whole blob, right, and the store holds it.
            let failedGets = proxy.faults!.requests.filter { $0.method == "GET" && $0.path.hasSuffix("/blobs/\(layer.digest)") }.count
            proxy.faults!.update { $0.corruptBlobs = false }
            // (A request that joins the failing download while it winds down fails with it, as a client retry would see.)
            var good: RawHTTPResponse?
            try await waitUntil("a whole blob after the upstream is fixed", every: .milliseconds(200)) {
                good = try await proxy.blob(layer.digest, licence: licence.id)
                return good?.status == 200
            }
            #expect(good?.body.count == Int(layer.size))
            #expect(good.map { Digest.sha256(of: $0.body) } == layer.digest)
            // The store's commit (fsync, rename) follows the last byte sent.
            try await waitUntil("the blob to be committed to the store") { proxy.storedBlobs().committed.contains(layer.digest.encoded) }
            let stored = try #require(FileManager.default.contents(atPath: "\(proxy.storePath)/blobs/sha256/\(layer.digest.encoded)"))
            #expect(Digest.sha256(of: stored) == layer.digest)
            // Fetched upstream again: the wrong copy was not kept.
            let gets = proxy.faults!.requests.filter { $0.method == "GET" && $0.path.hasSuffix("/blobs/\(layer.digest)") }.count
            #expect(gets > failedGets, "\(gets) upstream GETs of the layer, \(failedGets) before the fix")
            // The audit shows the cut pull (502) and the good one.
            #expect(try await proxy.metric("ferry_proxy_pulls_total", [#"kind="blob""#, #"status="502""#]) >= 1)
        }
    }

    @Test("An upstream that drops mid-blob: the proxy's registry client resumes with Range; the customer gets the whole blob, right")
    func dropMidBlobIsResumed() async throws {
        var plan = FaultProxy.Plan()
        plan.dropBlobAfter = 1_500_000
        plan.drops = 2
        try await ProxyFixture.with("proxy-drop", images: Self.faultImages, faults: plan) { proxy in
            let licence = try await proxy.createLicence()
            let layer = try #require(try await proxy.blobs(licence: licence.id).first)
            let response = try #require(try await proxy.blob(layer.digest, licence: licence.id))
            #expect(response.status == 200 && response.body.count == Int(layer.size), "\(response.statusLine)")
            #expect(Digest.sha256(of: response.body) == layer.digest)
            // Cut twice upstream, each time resumed from where it stopped (206), not restarted.
            let gets = proxy.faults!.requests.filter { $0.method == "GET" && $0.path.hasSuffix("/blobs/\(layer.digest)") }
            let resumes = gets.filter { $0.range != nil }
            #expect(resumes.count == 2, "\(gets.map { "\($0.status) \($0.range ?? "-")" })")
            #expect(resumes.allSatisfy { $0.status == 206 && $0.start > 0 })
            #expect(try await proxy.metric("ferry_proxy_digest_mismatches_total") == 0)
        }
    }

    @Test("429 with Retry-After upstream: retried after the delay it asks, then served")
    func upstreamRateLimitIsRetried() async throws {
        var plan = FaultProxy.Plan()
        plan.tooManyRequests = 2
        plan.retryAfter = 1
        try await ProxyFixture.with("proxy-429", images: Self.faultImages, faults: plan) { proxy in
            let licence = try await proxy.createLicence()
            let layer = try #require(try await proxy.blobs(licence: licence.id).first)
            let response = try #require(try await proxy.blob(layer.digest, licence: licence.id))
            #expect(response.status == 200 && Digest.sha256(of: response.body) == layer.digest)
            let requests = proxy.faults!.requests
            #expect(requests.filter { $0.status == 429 }.count == 2)
            for (index, throttled) in requests.enumerated() where throttled.status == 429 {
                let retry = try #require(requests[(index + 1)...].first { $0.path == throttled.path && $0.method == throttled.method })
                #expect(retry.at - throttled.at >= .milliseconds(950), "\(throttled.method) \(throttled.path) retried too soon")
            }
        }
    }

    @Test("An upstream that keeps answering 429 or 5xx: retried, then the customer gets a registry-style error, no hang, no upstream name")
    func persistentUpstreamFailuresEndInAClearError() async throws {
        var plan = FaultProxy.Plan()
        plan.tooManyRequests = 1000
        plan.retryAfter = 1
        try await ProxyFixture.with("proxy-5xx", images: Self.faultImages, faults: plan) { proxy in
            let licence = try await proxy.createLicence()
            let manifest = "\(Self.shopPath)/manifests/1.4"
            let started = ContinuousClock.now
            let limited = try await proxy.request("GET", manifest, licence: licence.id, timeout: .seconds(90))
            #expect(limited.status == 429 && limited.errorCodes == ["TOOMANYREQUESTS"], "\(limited.statusLine) \(limited.text)")
            #expect(limited.headers["retry-after"] != nil)
            #expect(proxy.faults!.requests.filter { $0.status == 429 }.count >= 3, "retried upstream before giving up")
            #expect(ContinuousClock.now - started < .seconds(60))

            // 503s: on a manifest, then on a blob whose manifest came through.
            proxy.faults!.update {
                $0.tooManyRequests = 0
                $0.serverErrors = 1000
            }
            let failing = try await proxy.request("GET", manifest, licence: licence.id, timeout: .seconds(90))
            #expect(failing.status == 502 && failing.errorCodes == ["UPSTREAM_ERROR"], "\(failing.statusLine) \(failing.text)")
            #expect(proxy.faults!.requests.filter { $0.status == 503 }.count >= 3, "retried upstream before giving up")
            proxy.faults!.update { $0.serverErrors = 0 }
            let layer = try #require(try await proxy.blobs(licence: licence.id).first)
            proxy.faults!.update { $0.serverErrors = 1000 }
            let blob = try #require(try await proxy.blob(layer.digest, licence: licence.id, timeout: .seconds(90)))
            #expect(blob.status == 502 && blob.errorCodes == ["UPSTREAM_ERROR"], "\(blob.statusLine) \(blob.text)")
            // The customer learns the code, never the upstream host or what it said.
            for response in [limited, failing, blob] {
                #expect(!response.text.contains(proxy.upstreamHost) && !response.text.contains("maintenance"), "\(response.text)")
            }
            #expect(!proxy.storedBlobs().committed.contains(layer.digest.encoded) && proxy.storedBlobs().partial.isEmpty)
        }
    }
}
