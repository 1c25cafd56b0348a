import FerryCore
import FerryMesh
import FerryPolicy
import FerryTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The fault-injection suite (docs/reliability.md): each scenario runs installs on a local cluster
/// of real processes (registry, leader, followers with their own `dockerd`) while a fault is
/// injected, then checks that every install completes (or fails with a clear reason where it
/// must), that every image runs in every engine, that upstream sent one copy of each blob plus at
/// most what was in flight when a transfer was cut, and that no store holds a blob whose bytes do
/// not match its digest.
///
/// Bounded in `make test` (CI); `make test-faults` sets `FERRY_FAULTS=full` for more kills and
/// writes the figures to `FERRY_FAULT_REPORT`.
@Suite("Fault injection", .serialized, .requiresRoot("dockerd, mounts, network namespaces"))
struct FaultTests {
    @Test("SIGKILL of the leader at random moments, again and again, and of followers: the install completes, one copy upstream")
    func kills() async throws {
        var random = FaultRandom()
        try await TestCluster.with("fk", nodes: ["n1", "n2", "n3"]) { cluster in
            let pushed = [
                try await cluster.push("demo/app:1", layers: [.init("fk-base", "6M"), .init("fk-app1", "6M")]),
                try await cluster.push("demo/app:2", layers: [.init("fk-base", "6M"), .init("fk-app2", "4M")]),
            ]
            // A slow upstream link (1.5 MiB/s per connection), as at the sites Ferry is for: the
            // sender is the bottleneck, so a kill loses only what was on the wire.
            var plan = FaultProxy.Plan()
            plan.blobRate = 3 * 512 * 1024
            try await withFaultProxy(cluster, plan: plan) { proxy in
                let references = pushed.map { proxy.rewrite($0) }
                let accepted = try await cluster.admin.install(InstallRequest(images: references))
                var leaderKills = 0
                var followerKills = 0
                let started = ContinuousClock.now
                while leaderKills < FaultScale.leaderKills {
                    try await Task.sleep(for: .milliseconds(random.next(in: 150...1500)))
                    if followerKills < FaultScale.followerKills, random.next(in: 0...2) == 0 {
                        let name = ["n1", "n2", "n3"][random.next(in: 0...2)]
                        await cluster.killFollower(name)
                        followerKills += 1
                        try await cluster.startFollower(name, join: false)
                    }
                    await cluster.killLeader()
                    leaderKills += 1
                    try await cluster.restartLeader()
                }
                let killing = ContinuousClock.now - started
                let followed = try await cluster.ferry(["status", "\(accepted.id)", "--follow"])
                #expect(followed.status == 0, "\(followed.stdout)\n\(followed.stderr)")
                let check = try await cluster.faultCheck(references: references, proxy: proxy)
                FaultReport.record(
                    "SIGKILL: leader \(leaderKills)×, followers \(followerKills)× within \(killing.seconds) s", seed: random.seed,
                    faults: leaderKills + followerKills, installs: followed.status == 0 ? "1/1" : "0/1", check: check)
            }
        }
    }

    @Test("A follower cut off from the network mid-transfer (its namespace's link down, then up): shown unreachable, then the install completes")
    func linkCut() async throws {
        let jail = try await NetworkJail.create()
        defer { Task { await jail.remove() } }
        try await TestCluster.with("fl", nodes: ["n1", "n2"], jailed: ["n1": jail]) { cluster in
            // A download slow enough to be cut in the middle.
            await cluster.killFollower("n1", signal: SIGTERM)
            try await cluster.startFollower("n1", join: false, extraArguments: ["--max-download-rate", "3MiB/s"])
            let reference = try await cluster.push("demo/app:1", layers: [.init("fl-big", "18M")])
            let accepted = try await cluster.admin.install(InstallRequest(images: [reference]))
            let status = try await cluster.install(accepted.id, until: "n1 holds 4 MiB") {
                ($0.targets.first { $0.node == "n1" }?.bytesDone ?? 0) >= 4 * 1024 * 1024 || $0.finishedAt != nil
            }
            // Transferring; with the pull handoff, loading while the blobs arrive.
            #expect([.transferring, .loading].contains(status.targets.first { $0.node == "n1" }?.state))
            try await jail.setLink(up: false)
            // Three missed heartbeats (15 s) and the leader shows it unreachable.
            var state: NodeState?
            try? await waitUntil("n1 to show unreachable", timeout: .seconds(40), every: .milliseconds(500)) {
                state = try await cluster.admin.nodes().nodes.first { $0.name == "n1" }?.state
                return state == .unreachable
            }
            #expect(state == .unreachable)
            // n2 may have been reading from n1 (cut-through): it leaves the silent peer after the
            // stall timeout and finishes from another source while n1 is still cut off.
            let cut = try await cluster.install(accepted.id, until: "n2 done while n1 is cut off", timeout: .seconds(60)) {
                $0.targets.first { $0.node == "n2" }?.state == .done
            }
            #expect(cut.targets.first { $0.node == "n2" }?.state == .done, "the other node is not held up")
            #expect(cut.targets.first { $0.node == "n1" }?.state != .done)
            #expect(cut.targets.first { $0.node == "n1" }?.note?.hasPrefix("node unreachable") == true, "its stale progress is marked as such")
            try await jail.setLink(up: true)
            let followed = try await cluster.ferry(["status", "\(accepted.id)", "--follow"])
            #expect(followed.status == 0, "\(followed.stdout)\n\(followed.stderr)")
            #expect(try await cluster.registry.blobGets().values.allSatisfy { $0 == 1 }, "one upstream GET per blob")
            let check = try await cluster.faultCheck(references: [reference], proxy: nil)
            FaultReport.record(
                "follower's link down mid-blob until it shows unreachable, then up", faults: 1, installs: "1/1", check: check)
        }
    }

    @Test("An upstream that drops the connection every 3 MiB: resumed with Range, one copy upstream")
    func upstreamDrops() async throws {
        try await TestCluster.with("fd", nodes: ["n1", "n2"]) { cluster in
            let pushed = try await cluster.push("demo/app:1", layers: [.init("fd-big", "14M"), .init("fd-small", "5M")])
            var plan = FaultProxy.Plan()
            plan.dropBlobAfter = 3 * 1024 * 1024
            plan.drops = 1000
            try await withFaultProxy(cluster, plan: plan) { proxy in
                let reference = proxy.rewrite(pushed)
                let installed = try await cluster.ferry(["install", reference])
                #expect(installed.status == 0, "\(installed.stdout)\n\(installed.stderr)")
                let drops = 1000 - proxy.currentPlan.drops
                #expect(drops >= 5, "the 14 MiB layer alone is cut four times")
                let check = try await cluster.faultCheck(references: [reference], proxy: proxy)
                FaultReport.record(
                    "upstream drops the connection every 3 MiB", faults: drops, installs: installed.status == 0 ? "1/1" : "0/1", check: check)
            }
        }
    }

    @Test("An upstream that corrupts bytes: the install fails with the digest error, nothing is loaded or kept; it lands once upstream is sound")
    func upstreamCorrupts() async throws {
        try await TestCluster.with("fc", nodes: ["n1", "n2"]) { cluster in
            let pushed = try await cluster.push("demo/app:1", layers: [.init("fc-one", "6M"), .init("fc-two", "3M")])
            var plan = FaultProxy.Plan()
            plan.corruptBlobs = true
            try await withFaultProxy(cluster, plan: plan) { proxy in
                let reference = proxy.rewrite(pushed)
                let failed = try await cluster.ferry(["install", reference])
                #expect(failed.status != 0)
                #expect((failed.stdout + failed.stderr).contains("digest"), "the reason names the digest check: \(failed.stdout)\(failed.stderr)")
                for node in ["n1", "n2"] {
                    #expect(try await cluster.engine(node).imageID(reference) == nil, "\(node) loaded nothing")
                }
                #expect(try await cluster.corruptBlobs().isEmpty, "every receiver discarded the bytes")

                proxy.update { $0.corruptBlobs = false }
                let installed = try await cluster.ferry(["install", reference])
                #expect(installed.status == 0, "\(installed.stdout)\n\(installed.stderr)")
                // Three copies on purpose: the leader fetches a blob that fails its digest once more
                // before giving up, and the healed upstream sends it a last time.
                let check = try await cluster.faultCheck(references: [reference], proxy: proxy, attempts: 3)
                FaultReport.record(
                    "upstream corrupts every blob, then heals", faults: 1, installs: "1/2 (the corrupt one fails, as it must)", check: check)
            }
        }
    }

    @Test("A follower whose data directory fills up mid-transfer: a clear error, no corrupt state, and recovery once space returns")
    func diskFull() async throws {
        try await TestCluster.with(
            "ff", nodes: ["n1", "n2"],
            prepareNode: { cluster, name in
                guard name == "n1" else { return }
                try await cluster.mountTmpfs(at: cluster.nodes[name]!.directory, bytes: 64 * 1024 * 1024)
            }
        ) { cluster in
            // No reserve, so the disk really fills; a download slow enough to fill it mid-blob.
            await cluster.killFollower("n1", signal: SIGTERM)
            try await cluster.startFollower("n1", join: false, extraArguments: ["--reserved-space", "0", "--max-download-rate", "4MiB/s"])
            let reference = try await cluster.push("demo/app:1", layers: [.init("ff-big", "24M")])
            let accepted = try await cluster.admin.install(InstallRequest(images: [reference]))
            _ = try await cluster.install(accepted.id, until: "n1 holds 4 MiB") {
                ($0.targets.first { $0.node == "n1" }?.bytesDone ?? 0) >= 4 * 1024 * 1024 || $0.finishedAt != nil
            }
            // Something else takes every free byte of the follower's disk.
            let filler = "\(cluster.nodes["n1"]!.directory)/filler"
            _ = try await runProcess("/usr/bin/dd", ["if=/dev/zero", "of=\(filler)", "bs=1M"])
            let failed = try await cluster.ferry(["status", "\(accepted.id)", "--follow", "--json"])
            #expect(failed.status != 0)
            let final = try FerryJSON.decoder().decode(InstallStatus.self, from: Data(failed.stdout.utf8))
            let n1 = try #require(final.targets.first { $0.node == "n1" })
            #expect(n1.state == .failed)
            #expect(n1.error?.code == FerryError.Code.insufficientSpace.rawValue, "\(String(describing: n1.error))")
            #expect(final.targets.first { $0.node == "n2" }?.state == .done, "the other node is not held up")
            #expect(try await cluster.engine("n1").imageID(reference) == nil, "nothing half-loaded")
            #expect(try await cluster.corruptBlobs().isEmpty)
            let nodes = try await cluster.admin.nodes().nodes
            #expect(nodes.first { $0.name == "n1" }?.state == .reachable, "the follower runs on with a full disk")

            // Space returns: the same install, asked again, lands.
            try FileManager.default.removeItem(atPath: filler)
            let installed = try await cluster.ferry(["install", reference])
            #expect(installed.status == 0, "\(installed.stdout)\n\(installed.stderr)")
            let check = try await cluster.faultCheck(references: [reference], proxy: nil)
            FaultReport.record(
                "follower disk (64 MiB tmpfs) filled mid-blob, then freed", faults: 1,
                installs: "1/2 (the first fails on the full node with INSUFFICIENT_SPACE, as it must)", check: check)
        }
    }

    @Test("A leader restarted while followers run rebuilds who holds what from their reports: the next node is fed by peers, nothing fetched again")
    func leaderRestartRebuildsInventory() async throws {
        try await TestCluster.with("fr", nodes: ["n1", "n2", "n3"]) { cluster in
            let reference = try await cluster.push("demo/app:1", layers: [.init("fr-one", "8M"), .init("fr-two", "4M")])
            let first = try await cluster.ferry(["install", reference, "--nodes", "n1,n2"])
            #expect(first.status == 0, "\(first.stdout)\n\(first.stderr)")
            let fetched = try await cluster.registry.blobGets()

            await cluster.killLeader()
            try await cluster.restartLeader()
            // The followers report what they hold when their next heartbeat (every 5 s) is answered
            // with a request for it: a second "sent the blob inventory" in each log.
            func reported(_ node: String) -> Bool {
                cluster.followerLog(node).components(separatedBy: "sent the blob inventory").count - 1 >= 2
            }
            try? await waitUntil("both inventories", every: .milliseconds(200)) { reported("n1") && reported("n2") }
            #expect(reported("n1") && reported("n2"), "both followers sent their inventory to the restarted leader")
            let second = try await cluster.ferry(["install", reference, "--nodes", "n3"])
            #expect(second.status == 0, "\(second.stdout)\n\(second.stderr)")
            #expect(try await cluster.registry.blobGets() == fetched, "nothing was fetched from upstream again")
            let fromPeers = try await cluster.metrics(of: "n3")["ferry_received_bytes_total{source=\"peer\"}"] ?? 0
            #expect(fromPeers > 0, "the restarted leader knew n1 and n2 hold the blobs and sent n3 to them")
            let check = try await cluster.faultCheck(references: [reference], proxy: nil)
            FaultReport.record(
                "leader SIGKILLed and restarted under running followers", faults: 1, installs: "2/2", check: check,
                note: "n3 received \(Int(fromPeers) >> 20) MiB from peers")
        }
    }
}

/// How hard the suite pushes: `FERRY_FAULTS=full` (`make test-faults`) or bounded (`make test`, CI).
enum FaultScale {
    static let full = ProcessInfo.processInfo.environment["FERRY_FAULTS"] == "full"
    static var leaderKills: Int { full ? 24 : 6 }
    static var followerKills: Int { full ? 8 : 2 }
}

/// Random moments that can be replayed: the seed is printed with the figures, and
/// `FERRY_FAULT_SEED` sets it.
struct FaultRandom {
    let seed: UInt64
    private var generator: SplitMix64

    init() {
        seed = ProcessInfo.processInfo.environment["FERRY_FAULT_SEED"].flatMap { UInt64($0) } ?? UInt64.random(in: 1...UInt64.max)
        generator = SplitMix64(seed: seed)
    }

    mutating func next(in range: ClosedRange<Int>) -> Int {
        range.lowerBound + Int(generator.next() % UInt64(range.count))
    }
}

extension Duration {
    var seconds: Int { Int(components.seconds) }
}
