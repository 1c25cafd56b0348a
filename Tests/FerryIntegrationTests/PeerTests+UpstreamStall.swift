import FerryCore
import FerryMesh
import FerryTestSupport
import Foundation
import Testing

extension PeerTests {
    /// The upstream goes silent for 30 s in the middle of a layer, its connection kept open (the
    /// leader's 60 s read timeout does not fire). Every node receiving the layer stalls with the
    /// leader. Before, each follower reported the leader stalled every 5 s, was answered no source
    /// (its own report had the leader left out), threw its partial away and fetched it again from
    /// byte 0; and its receivers' reports against it counted, so the followers excluded each
    /// other for 10 min (found by an audit with a 75 s outage: 8.9 copies from the leader).
    @Test("An upstream that stalls 30 s mid-layer: followers resume from the leader rather than start over, no report counts, and status says so")
    func upstreamStallCostsNoRefetch() async throws {
        try await TestCluster.with("pstall", nodes: ["a", "b", "c"]) { cluster in
            let reference = try await cluster.push("demo/app:1", layers: [.init("pstall", "12M")])
            var plan = FaultProxy.Plan()
            plan.blobRate = 2 * 1024 * 1024
            plan.pauseBlobAfter = 4 * 1024 * 1024
            plan.pause = .seconds(30)
            plan.pauses = 1
            let proxy = try await FaultProxy.start(upstream: cluster.registry.url, plan: plan)
            defer { Task { await proxy.stop() } }
            let proxied = reference.replacingOccurrences(of: cluster.registry.host, with: proxy.host)
            let accepted = try await cluster.admin.install(InstallRequest(images: [proxied]))
            // The operator is told, while it lasts (before, nothing until the leader's 60 s read timeout).
            var shown = ""
            try await waitUntil("ferry status warns of the silent upstream", timeout: .seconds(40), every: .milliseconds(500)) {
                shown = try await cluster.ferry(["status", "\(accepted.id)"]).stdout
                return shown.contains("warning: the leader has received no byte from the upstream registry for 10 s or more")
            }
            let result = try await cluster.ferry(["status", "\(accepted.id)", "--follow"])
            #expect(result.status == 0, "\(result.stderr)")
            #expect(try await cluster.admin.install(id: accepted.id).warnings == nil, "the warning is live, not recorded with the install")
            let image = try #require(try await cluster.admin.images().images.first { $0.reference == proxied })
            var received = 0.0
            for node in ["a", "b", "c"] { received += try await cluster.receivedBytes(of: node) }
            let needed = 3 * Double(image.size)
            print("measured: the followers received \(Int(received)) bytes for \(Int(needed)) needed")
            #expect(received <= 1.10 * needed, "the followers received \(Int(received)) bytes for \(Int(needed)) needed")
            let leader = try await cluster.leaderMetrics()
            #expect((leader["ferry_mesh_reports_total{outcome=\"counted\"}"] ?? 0) == 0, "reports counted against honest relays")
            #expect(try await cluster.registry.blobGets().values.allSatisfy { $0 == 1 }, "one copy upstream")
            #expect(try await cluster.engine("c").run(proxied).stdout.contains("ferry-image demo/app:1 ok"))
        }
    }
}
