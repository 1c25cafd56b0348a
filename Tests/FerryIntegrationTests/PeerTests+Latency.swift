import FerryCore
import FerryMesh
import FerryTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

extension PeerTests {
    /// A node learns of its work as the leader records the image's resolution (the commit wakes
    /// its long poll), and receives each blob by cut-through while the leader is still fetching:
    /// it does not wait for the leader to hold the whole image (issue 11, item 1).
    @Test("A follower receives by cut-through before the leader holds the whole image (slow upstream)")
    func followerReceivesBeforeLeaderHoldsImage() async throws {
        try await TestCluster.with("pwake", nodes: ["a"], leaderArguments: ["--upstream-rate", "4MiB/s"]) { cluster in
            // 24 MiB at 4 MiB/s: about 6 s upstream.
            let reference = try await cluster.push("demo/app:1", layers: [.init("pw", "24M")])
            let accepted = try await cluster.admin.install(InstallRequest(images: [reference]))
            // When the leader's first upstream byte and a's first byte from the leader were seen
            // (each poll scrapes both: the resolution is one poll, tens of ms on a loaded machine).
            let start = ContinuousClock.now
            var leaderFirst: Duration?
            var followerFirst: Duration?
            var received = 0.0
            try await waitUntil("a receives blob bytes", timeout: .seconds(60), every: .milliseconds(10)) {
                let upstream = try await cluster.leaderMetrics()["ferry_upstream_bytes_total"] ?? 0
                received = try await cluster.metrics(of: "a")["ferry_received_bytes_total{source=\"leader\"}"] ?? 0
                let now = ContinuousClock.now - start
                if upstream > 0, leaderFirst == nil { leaderFirst = now }
                if received > 0, followerFirst == nil { followerFirst = now }
                return received > 0
            }
            print("measured: first upstream byte at the leader seen at \(leaderFirst.map { "\($0)" } ?? "-"), first byte at a at \(followerFirst.map { "\($0)" } ?? "-")")
            let image = try await cluster.admin.image(id: 1)
            let timeline = image.state == .present
                ? cluster.timeline(["install created", "resolved image", "image fetched", "target moved", "transfer started", "receiving blob", "cannot get work"])
                : ""
            #expect(image.state != .present, "a received \(received) bytes while the leader held \(image.bytesDone) of \(image.size):\n\(timeline)")
            #expect(image.bytesDone < image.size)
            let followed = try await cluster.ferry(["status", "\(accepted.id)", "--follow"])
            #expect(followed.status == 0, "\(followed.stderr)")
            #expect(try await cluster.engine("a").run(reference).stdout.contains("ferry-image demo/app:1 ok"))
            #expect(try await cluster.registry.blobGets().values.allSatisfy { $0 == 1 }, "one copy upstream")
        }
    }

    /// A peer whose process hangs keeps its connections open and sends nothing: the receiver
    /// leaves it after the stall timeout (5 s, `MeshHTTP.transferStallTimeout`), counts it as a
    /// stall, and resumes from the leader at its offset (issue 11, item 5).
    @Test("A peer that goes silent mid-transfer (SIGSTOP) is left as stalled within the stall timeout")
    func silentPeerIsLeftQuickly() async throws {
        try await TestCluster.with("psilent", nodes: ["a", "b"]) { cluster in
            let (reference, accepted) = try await PeerTests.receivingFromSlowPeer(cluster, layer: "psl")
            // a hangs: its connections stay open and send nothing more.
            let stopped = ContinuousClock.now
            cluster.nodes["a"]?.process?.signal(SIGSTOP)
            try await waitUntil("b leaves the silent peer", timeout: .seconds(60), every: .milliseconds(100)) {
                (try await cluster.metrics(of: "b")["ferry_source_failures_total{kind=\"stalled\"}"] ?? 0) >= 1
            }
            let left = ContinuousClock.now - stopped
            print("measured: b left the silent peer \(left) after it stopped")
            // Generous (a loaded machine), but under the old 20 s stall timeout.
            #expect(left < .seconds(15), "b left the silent peer after \(left)")
            await cluster.killFollower("a")
            let followed = try await cluster.ferry(["status", "\(accepted.id)", "--follow"])
            #expect(followed.status == 0, "\(followed.stderr)")
            #expect(try await cluster.engine("b").run(reference).stdout.contains("ok"))
        }
    }
}
