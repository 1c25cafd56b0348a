import FerryCore
import FerryMesh
import FerryTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `--follow` outlives a leader restart (`LeaderPoll`): an operator following an install or a
/// rollout while the leader is restarted (an upgrade, a crash and systemd's restart) keeps
/// following instead of getting an error and a non-zero exit for an install that then succeeds.
@Suite("--follow through a leader restart", .serialized, .requiresRoot("dockerd"))
struct FollowThroughRestartTests {
    @Test("ferry status --follow keeps following while the leader is killed and restarted, and exits 0 when the install completes")
    func statusFollowsThroughALeaderRestart() async throws {
        try await TestCluster.with("follow-rs", nodes: ["n1"]) { cluster in
            let reference = try await FollowerStopTests.pushHeld(cluster, "demo/app:1", size: "4M")
            await cluster.killFollower("n1", signal: SIGTERM)
            // The install waits for the stopped node while the CLI starts: the CLI retries only a
            // leader that had answered it, and a CI run's loaded machine took longer to start it
            // than the node took to fetch and load the image.
            let install = try await cluster.admin.install(InstallRequest(images: [reference]))
            let follow = try BackgroundProcess.spawn(
                RepositoryLayout.ferryBinary, ["status", "\(install.id)", "--follow"], logPath: cluster.dir.sub("follow.log"),
                environment: ["FERRY_LEADER": cluster.leader.url, "FERRY_TOKEN": cluster.leader.token, "FERRY_CA": cluster.leader.caFile])
            try await waitUntil("the CLI's first answer") { follow.log.contains("n1: ") }
            #expect(!follow.log.contains("done"), "\(follow.log)")
            try await cluster.startFollower("n1", join: false, extraArguments: ["--max-download-rate", "1MiB/s"])
            _ = try await cluster.install(install.id, until: "n1 received 1.5 MiB") { $0.targets.first?.bytesDone ?? 0 >= 3 * 512 * 1024 }
            // Down longer than one request's 30 s (its connection attempts are retried within
            // that): the CLI sees the leader unreachable, says so, and goes on asking.
            await cluster.killLeader()
            do {
                try await waitUntil("the CLI notes the outage and goes on", timeout: .seconds(60)) { follow.log.contains("still following") }
            } catch {
                Issue.record("the CLI printed: \(follow.log)")
                throw error
            }
            #expect(kill(follow.pid, 0) == 0, "the CLI is still running: \(follow.log)")
            try await cluster.restartLeader()
            let status = await follow.wait()
            #expect(status == 0, "\(follow.log)")
            #expect(try await cluster.admin.install(id: install.id).targets.first?.state == .done)
        }
    }
}
