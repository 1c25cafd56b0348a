import FerryCoordinator
import FerryCore
import FerryMesh
import FerryPolicy
import FerryRegistry
import FerryTestSupport
import Foundation
import Testing

/// Per-licence limits of the proxy: the concurrent-stream cap (`--max-streams`) and the rate
/// (`licence create --max-rate`), against the real registry.
extension ProxyTests {
    @Test("Past --max-streams (with --max-stream-wait 0) a licence's next blob stream gets 429 TOOMANYREQUESTS with Retry-After; other licences are not held up")
    func streamCapAnswersTooManyRequests() async throws {
        var plan = FaultProxy.Plan()
        plan.blobRate = 1_000_000  // a slow upstream, so the first stream stays open
        try await ProxyFixture.with("proxy-streams", images: Self.faultImages, faults: plan, arguments: ["--max-streams", "1", "--max-stream-wait", "0"]) {
            proxy in
            let licence = try await proxy.createLicence()
            let other = try await proxy.createLicence(customer: "other")
            let layer = try #require(try await proxy.blobs(licence: licence.id).first)
            let path = "\(Self.shopPath)/blobs/\(layer.digest)"
            let first = Task { try await proxy.blob(layer.digest, licence: licence.id) }
            try await waitUntil("the first stream to reach upstream") {
                proxy.faults!.requests.contains { $0.method == "GET" && $0.path.hasSuffix("/blobs/\(layer.digest)") }
            }
            let refused = try await proxy.request("GET", path, licence: licence.id)
            #expect(refused.status == 429 && refused.errorCodes == ["TOOMANYREQUESTS"], "\(refused.statusLine) \(refused.text)")
            #expect(refused.headers["retry-after"] == "1")
            // Another licence streams meanwhile (joining the same upstream download).
            let beside = try #require(try await proxy.blob(layer.digest, licence: other.id))
            #expect(beside.status == 200 && Digest.sha256(of: beside.body) == layer.digest)
            let done = try #require(try await first.value)
            #expect(done.status == 200 && Digest.sha256(of: done.body) == layer.digest)
            // The slot is free again once the stream ended.
            try await waitUntil("the licence's slot to be released", every: .milliseconds(100)) {
                try await proxy.request("GET", path, licence: licence.id).status == 200
            }
            #expect(try await proxy.metric("ferry_proxy_pulls_total", [#"kind="blob""#, #"status="429""#]) >= 1)
        }
    }

    @Test("A Ferry leader fetching through a proxy with --max-streams 1 --max-stream-wait 0 gets 429s, retries them (Retry-After) and gets the whole image")
    func leaderHonoursTheProxysRetryAfter() async throws {
        var plan = FaultProxy.Plan()
        plan.blobRate = 4_000_000
        let images = [ProxyFixture.app: [TestImages.Layer("lr1", "2M"), TestImages.Layer("lr2", "2M"), TestImages.Layer("lr3", "2M")]]
        try await ProxyFixture.with("proxy-leader-429", images: images, faults: plan, arguments: ["--max-streams", "1", "--max-stream-wait", "0"]) {
            proxy in
            let licence = try await proxy.createLicence()
            let auth = proxy.dir.sub("customer-auth.json")
            try #"{"auths":{"\#(proxy.host)":{"username":"acme","password":"\#(licence.id)"}}}"#.write(toFile: auth, atomically: true, encoding: .utf8)
            let mirror = try RegistryMirror(parsing: "registry.vendor.example=\(proxy.host)/proxy/shop/vendor")
            try await LeaderHarness.with(dataDirectory: proxy.dir.sub("leader")) { configuration in
                configuration.registryAuthFile = auth
                configuration.registry.mirrors = [mirror.original: mirror]
                // Enough attempts to outlast the other streams; the delays are the proxy's Retry-After.
                configuration.registry.retry = RetryPolicy(maxAttempts: 40, baseDelay: .milliseconds(50), maxDelay: .milliseconds(500), maxRetryAfter: .seconds(5))
            } _: { leader in
                let status = try #require(try await leader.fetch(["registry.vendor.example/\(ProxyFixture.app)"]).first)
                #expect(status.state == .present, "\(status.error?.message ?? "")")
                #expect(try await expectStoreConsistent(leader.store))
            }
            let throttled = try await proxy.metric("ferry_proxy_pulls_total", [#"kind="blob""#, #"status="429""#])
            #expect(throttled >= 1, "the leader's concurrent blob downloads never met the cap")
        }
    }

    @Test(
        "containerd's ctr, which asks for every layer at once and does not wait for Retry-After, pulls an image of more layers than --max-streams: the requests past it wait their turn",
        .requiresRoot("containerd"))
    func ctrPullsMoreLayersThanTheStreamCap() async throws {
        var plan = FaultProxy.Plan()
        plan.blobRate = 4_000_000  // the streams overlap, so most layers meet the cap
        let layers = (1...10).map { TestImages.Layer("ct\($0)", "512K") }
        try await ProxyFixture.with("proxy-ctr-cap", images: [ProxyFixture.app: layers], faults: plan, arguments: ["--max-streams", "2"]) { proxy in
            let licence = try await proxy.createLicence()
            try await withTemporaryDirectory("ctd-cap") { scratch in
                let containerd = try await TestContainerd.start(in: scratch.sub("c"))
                do {
                    let reference = "\(proxy.host)/proxy/shop/vendor/\(ProxyFixture.app)"
                    let pull = try await containerd.ctr(["images", "pull", "--plain-http", "--user", "acme:\(licence.id)", "--snapshotter", "native", reference])
                    #expect(pull.succeeded, "\(pull.stdout)\n\(pull.stderr)")
                    let check = try await containerd.ctr(["images", "check"])
                    #expect(check.stdout.contains("complete"), "\(check.stdout)")
                } catch {
                    await containerd.stop()
                    throw error
                }
                await containerd.stop()
            }
            #expect(try await proxy.metric("ferry_proxy_pulls_total", [#"kind="blob""#, #"status="429""#]) == 0)
            #expect(try await proxy.metric("ferry_proxy_pulls_total", [#"kind="blob""#, #"status="200""#]) >= 11)
        }
    }

    /// An audit stopped a proxy (SIGTERM) while a rate-limited licence downloaded: it exited
    /// only when the download ended (28 s), its port closed and its directory locked meanwhile,
    /// past a service manager's stop timeout (30 s in the packaged unit).
    @Test("a stopping proxy cuts what is still running after its grace and exits cleanly; its counters are exported from the start")
    func stopCutsSlowDownloadsAfterTheGrace() async throws {
        try await ProxyFixture.with("proxy-stop", images: Self.faultImages, faults: FaultProxy.Plan()) { proxy in
            // Counters are exported at 0 from the start (an audit found /metrics empty until the first event).
            let token = try String(contentsOfFile: proxy.dataDirectory + "/admin-token", encoding: .utf8).trimmingWhitespace()
            let series = ["ferry_proxy_stale_answers_total 0", #"ferry_proxy_bytes_total{app="shop"} 0"#, #"ferry_proxy_digest_mismatches_total{app="other"} 0"#]
            try await waitUntil("the counters at 0 on /metrics") {
                let metrics = try await proxy.request("GET", "/metrics", authorization: "Bearer \(token)").text
                return series.allSatisfy(metrics.contains)
            }
            let slow = try await proxy.createLicence(customer: "slow", ["--max-rate", "64KiB/s"])
            let layer = try #require(try await proxy.blobs(licence: slow.id).max { $0.size < $1.size })
            let download = Task { try? await proxy.blob(layer.digest, licence: slow.id) }
            try await waitUntil("the download to reach upstream") {
                proxy.faults!.requests.contains { $0.method == "GET" && $0.path.hasSuffix("/blobs/\(layer.digest)") }
            }
            let started = ContinuousClock.now
            proxy.process.signal(SIGTERM)
            let status = await proxy.process.wait()
            let took = ContinuousClock.now - started
            // The whole blob at 64 KiB/s takes a minute: the grace (10 s, ProxyServer.shutdownGrace) ends it well before.
            #expect(took < .seconds(25), "exited \(took) after SIGTERM")
            #expect(status == 0, "\(proxy.process.log.suffix(1500))")
            let cut = await download.value
            #expect(cut.map { $0.body.count < Int(layer.size) } ?? true, "the download was cut")
            // Cut through its own error path, while the database was still open: audited.
            let usage = try await proxy.manage(["usage", "--licence", String(slow.number), "--json"])
            #expect(usage.contains(#""failed":1"#) || usage.contains(#""failed" : 1"#), "\(usage)")
        }
    }

    @Test("--max-rate caps a licence's throughput (loosely: a large blob at a low rate is far slower than unlimited), over all its streams")
    func maxRateLimitsALicence() async throws {
        try await ProxyFixture.with("proxy-rate", images: Self.faultImages) { proxy in
            let slow = try await proxy.createLicence(customer: "slow", ["--max-rate", "2MiB/s"])
            let fast = try await proxy.createLicence(customer: "fast")
            let layer = try #require(try await proxy.blobs(licence: fast.id).first)
            // Warm the cache, then time the same blob for both licences.
            _ = try #require(try await proxy.blob(layer.digest, licence: fast.id))
            func timed(_ licence: String) async throws -> (RawHTTPResponse?, Duration) {
                let started = ContinuousClock.now
                let response = try await proxy.blob(layer.digest, licence: licence)
                return (response, ContinuousClock.now - started)
            }
            let (fastResponse, fastTime) = try await timed(fast.id)
            let (slowResponse, slowTime) = try await timed(slow.id)
            #expect(fastResponse?.status == 200 && slowResponse?.status == 200)
            #expect(slowResponse.map { Digest.sha256(of: $0.body) } == layer.digest)
            // 4 MiB at 2 MiB/s is about 2 s (less a quarter-second burst).
            #expect(slowTime >= .milliseconds(1500), "\(slowTime) for \(layer.size) bytes at 2 MiB/s")
            #expect(slowTime >= fastTime * 2, "limited \(slowTime), unlimited \(fastTime)")
            // Two streams of the licence share its rate: together about twice as long as one.
            let started = ContinuousClock.now
            async let one = proxy.blob(layer.digest, licence: slow.id)
            async let two = proxy.blob(layer.digest, licence: slow.id)
            let both = try await [one, two]
            let together = ContinuousClock.now - started
            #expect(both.allSatisfy { $0?.status == 200 })
            #expect(together >= .milliseconds(3000), "two streams in \(together): the rate is not shared")
        }
    }
}
