import FerryCore
import FerryMesh
import FerryTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Followers stop when told (docs/operations.md): SIGTERM ends a real follower within seconds in
/// every state of its work, and a target the leader ends (a deadline) stops at once and frees its
/// slot, wherever it was waiting. Each test polls for the exit with a deadline; none times the
/// follower.
@Suite("Followers stop when told", .serialized, .requiresRoot("dockerd"))
struct FollowerStopTests {
    /// How long a follower may take to exit after SIGTERM before the test calls it stuck: far more
    /// than it needs (work stops at once, requests in flight get `FollowerService.shutdownGrace`),
    /// far less than a stuck follower (one waiting for a source waited forever).
    static let exitBound: Duration = .seconds(20)

    @Test("idle: SIGTERM ends the follower, exit status 0")
    func idle() async throws {
        try await TestCluster.with("stop-idle", nodes: ["n1"], engines: []) { cluster in
            // No engine at its --docker-host: the follower's own log says so (not only `ferry nodes`).
            try await waitUntil("the follower to warn about its engine") {
                cluster.followerLog("n1").contains("cannot reach the Docker engine: this node cannot load images until it answers")
            }
            let status = try await cluster.terminateFollower("n1")
            #expect(status == 0, "exit status \(status.map(String.init) ?? "none: still running")")
            #expect(cluster.followerLog("n1").contains("follower stopped"), "a clean stop is logged")
        }
    }

    @Test("waiting for a source that never comes (the leader's only upstream download is elsewhere): SIGTERM ends it")
    func waitingForSource() async throws {
        try await TestCluster.with("stop-src", nodes: ["n1"], leaderArguments: Self.hoggedUpstream) { cluster in
            try await Self.hogUpstream(cluster)
            let wanted = try await cluster.push("demo/wanted:1", layers: [.init("want", "64K")], busybox: false)
            _ = try await cluster.admin.install(InstallRequest(images: [wanted]))
            // The follower is in a download (of the config, which the leader has not started on).
            try await waitUntil("n1 waits for a source") { try await cluster.metrics(of: "n1")["ferry_active_downloads"] ?? 0 >= 1 }
            let status = try await cluster.terminateFollower("n1")
            #expect(status == 0, "exit status \(status.map(String.init) ?? "none: still running")")
        }
    }

    @Test("mid-download from the leader: SIGTERM ends it")
    func midDownload() async throws {
        try await TestCluster.with("stop-dl", nodes: ["n1"]) { cluster in
            let reference = try await Self.pushHeld(cluster, "demo/big:1", size: "8M")
            await cluster.killFollower("n1", signal: SIGTERM)
            try await cluster.startFollower("n1", join: false, extraArguments: ["--max-download-rate", "256KiB/s"])
            let install = try await cluster.admin.install(InstallRequest(images: [reference]))
            _ = try await cluster.install(install.id, until: "n1 received 512 KiB") { $0.targets.first?.bytesDone ?? 0 >= 512 * 1024 }
            let status = try await cluster.terminateFollower("n1")
            #expect(status == 0, "exit status \(status.map(String.init) ?? "none: still running")")
            // Unfinished, to resume at the next start (the pull handoff loads while transferring).
            #expect([.transferring, .loading].contains(try await cluster.admin.install(id: install.id).targets.first?.state))
        }
    }

    @Test("waiting for a load slot another node holds: SIGTERM ends it")
    func waitingForLoadSlot() async throws {
        try await TestCluster.with("stop-slot", nodes: ["n1"]) { cluster in
            let reference = try await Self.pushHeld(cluster, "demo/app:1", size: "2M")
            // Mallory takes the install's only load slot and keeps it. n1 is away meanwhile: with
            // the pull handoff it asks for the slot as soon as its transfer starts, and would
            // otherwise take it first (then load, and never wait).
            await cluster.killFollower("n1", signal: SIGTERM)
            let mallory = try await MaliciousNode.join(cluster, name: "mallory")
            // Her heartbeats go on, so the leader never counts her gone and frees her slot.
            let beating = mallory.keepBeating()
            defer { beating.cancel() }
            let (install, _) = try await mallory.takeLoadSlot(in: cluster, reference, besides: ["n1"])
            try await cluster.startFollower("n1", join: false, extraArguments: ["--max-download-rate", "1MiB/s"])
            _ = try await cluster.install(install.id, until: "n1 is ready, waiting for the slot") { status in
                status.targets.first { $0.node == "n1" }?.state == .ready
            }
            let status = try await cluster.terminateFollower("n1")
            #expect(status == 0, "exit status \(status.map(String.init) ?? "none: still running")")
        }
    }

    @Test("loading into a Docker engine that hangs: SIGTERM ends it")
    func loadingIntoDocker() async throws {
        try await TestCluster.with("stop-load", nodes: ["n1"]) { cluster in
            let reference = try await Self.pushHeld(cluster, "demo/app:1", size: "4M")
            await cluster.killFollower("n1", signal: SIGTERM)
            try await cluster.startFollower("n1", join: false, extraArguments: ["--max-download-rate", "1MiB/s"])
            let install = try await cluster.admin.install(InstallRequest(images: [reference]))
            _ = try await cluster.install(install.id, until: "n1 transfers") { [.transferring, .loading].contains($0.targets.first?.state) }
            // The engine stops answering (it was asked about the image already) before the load
            // starts, or while it pulls (`--handoff pull`).
            let pidText = try String(contentsOfFile: "\(cluster.engine("n1").directory)/docker.pid", encoding: .utf8)
            let dockerd = try #require(pid_t(pidText.trimmingWhitespace()))
            kill(dockerd, SIGSTOP)
            defer { kill(dockerd, SIGCONT) }
            _ = try await cluster.install(install.id, until: "n1 loads") { $0.targets.first?.state == .loading }
            let status = try await cluster.terminateFollower("n1")
            #expect(status == 0, "exit status \(status.map(String.init) ?? "none: still running")")
        }
    }

    @Test("the leader killed mid-download (unreachable): SIGTERM ends the follower")
    func leaderUnreachable() async throws {
        try await TestCluster.with("stop-lead", nodes: ["n1"]) { cluster in
            let reference = try await Self.pushHeld(cluster, "demo/big:1", size: "8M")
            await cluster.killFollower("n1", signal: SIGTERM)
            try await cluster.startFollower("n1", join: false, extraArguments: ["--max-download-rate", "256KiB/s"])
            let install = try await cluster.admin.install(InstallRequest(images: [reference]))
            _ = try await cluster.install(install.id, until: "n1 received 256 KiB") { $0.targets.first?.bytesDone ?? 0 >= 256 * 1024 }
            await cluster.killLeader()
            let status = try await cluster.terminateFollower("n1")
            #expect(status == 0, "exit status \(status.map(String.init) ?? "none: still running")")
        }
    }

    @Test("a target the leader ends (deadline) while it waits for its config stops at once, frees its slots, and the next install proceeds")
    func supersededFreesTheNode() async throws {
        try await TestCluster.with("stop-sup", nodes: ["n1"], leaderArguments: Self.hoggedUpstream) { cluster in
            // Held by the leader before the hog takes its only upstream download.
            let next = try await Self.pushHeld(cluster, "demo/next:1", size: "16K", busybox: false)
            try await Self.hogUpstream(cluster)
            // Two images (a follower runs two at a time), each stuck before its config.
            let one = try await cluster.push("demo/one:1", layers: [.init("one", "16K")], busybox: false)
            let two = try await cluster.push("demo/two:1", layers: [.init("two", "16K")], busybox: false)
            // The leader resolves them slowly too (its upstream connection is busy): a deadline past that.
            let stuck = try await cluster.admin.install(InstallRequest(images: [one, two], deadlineSeconds: 75))
            do {
                try await waitUntil("n1 waits for both configs", timeout: .seconds(70)) {
                    try await cluster.metrics(of: "n1")["ferry_active_downloads"] ?? 0 >= 2
                }
            } catch {
                Issue.record("\(error): \(try await cluster.admin.install(id: stuck.id).targets.map { "\($0.state) \($0.error?.message ?? "")" }) \(cluster.followerLog("n1").suffix(4000))")
                return
            }
            _ = try await cluster.install(stuck.id, until: "the deadline ends the stuck install", timeout: .seconds(120)) { $0.state == .failed }
            // The node is free at once: the next install runs to the end.
            let proceeding = try await cluster.admin.install(InstallRequest(images: [next]))
            let final = try await cluster.install(proceeding.id, until: "the next install is done", timeout: .seconds(60)) { $0.isFinished }
            #expect(final.state == .done, "\(final.targets.map { "\($0.state) \($0.error?.message ?? "")" })")
            #expect(try await cluster.metrics(of: "n1")["ferry_active_downloads"] ?? 0 == 0, "the stuck downloads were cancelled")
        }
    }

    /// The leader downloads one blob at a time from upstream, at 1 KiB/s once a 64 KiB burst is spent.
    static let hoggedUpstream = ["--max-downloads", "1", "--upstream-rate", "1KiB/s"]

    /// Has the leader start a 16 MiB layer it will not finish during the test: with
    /// ``hoggedUpstream`` no other blob is fetched meanwhile.
    static func hogUpstream(_ cluster: TestCluster) async throws {
        let hog = try await cluster.push("demo/hog:1", layers: [.init("hog", "16M")], busybox: false)
        let fetch = try await cluster.admin.fetch(FetchRequest(images: [hog]))
        _ = fetch
        try await waitUntil("the leader is downloading the hog layer") {
            guard let image = try await cluster.admin.images().images.first(where: { $0.reference == hog }) else { return false }
            return try await cluster.admin.image(id: image.id).blobs?.contains { $0.size > 1024 * 1024 && $0.bytesDone > 0 } == true
        }
    }

    /// Pushes an image with one layer of `size` and has the leader fetch it whole.
    static func pushHeld(_ cluster: TestCluster, _ repoTag: String, size: String, busybox: Bool = false) async throws -> String {
        let seed = repoTag.map { $0.isLetter || $0.isNumber ? $0 : "-" }
        let reference = try await cluster.push(repoTag, layers: [.init(String(seed), size)], busybox: busybox)
        _ = try await cluster.admin.fetch(FetchRequest(images: [reference]))
        try await waitUntil("the leader holds \(repoTag)") {
            try await cluster.admin.images().images.first { $0.reference == reference }?.state == .present
        }
        return reference
    }
}

extension TestCluster {
    /// Sends SIGTERM to a follower and polls, up to `bound`, for it to exit; returns its exit
    /// status, or nil if it was still running (then it is killed).
    func terminateFollower(_ name: String, bound: Duration = FollowerStopTests.exitBound) async throws -> Int32? {
        guard let process = nodes[name]?.process else { throw FerryError(.notFound, "follower \(name) is not running") }
        let status = try await FollowerStopTests.terminate(process, bound: bound)
        await killFollower(name, signal: 0)  // forgets it (it has exited)
        return status
    }
}
