import FerryCore
import FerryMesh
import FerryTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

extension SecurityTests {
    /// Left by an earlier session: a follower stopped after the leader recorded its join but before
    /// it wrote `node.json` (or whose connection was cut before the answer came) found its own name
    /// taken at its next start, or, joining again, held a credential the leader no longer took:
    /// nothing short of `ferry nodes remove` on the leader brought it back.
    @Test("a follower killed between the leader's answer to its join and its node.json joins at its next start under its name, a one-use token spent once; so does one joining again with its credential")
    func joinAnswerLost() async throws {
        try await TestCluster.with("seclost", nodes: [], engines: []) { cluster in
            let directory = cluster.dir.sub("node-lost")
            func follower(_ leader: String, token: String, log: String, killedAfterTheAnswer: Bool = false) throws -> BackgroundProcess {
                var environment = ["FERRY_JOIN_TOKEN": token]
                if killedAfterTheAnswer { environment["FERRY_FAILPOINTS"] = "follower-join-answered" }
                return try BackgroundProcess.spawn(
                    RepositoryLayout.ferryBinary,
                    ["follower", "--data-dir", directory, "--leader", leader, "--name", "lost", "--listen", "127.0.0.1:0",
                     "--docker-host", "unix://\(cluster.dir.sub("no-docker.sock"))"],
                    logPath: cluster.dir.sub(log), environment: environment)
            }
            func killedByTheFailpoint(_ process: BackgroundProcess) async {
                let status = await process.wait()
                #expect(status == 128 + SIGKILL && process.log.contains("failpoint follower-join-answered reached"), "\(process.log.suffix(1500))")
            }
            /// Once the follower holds its identity: a heartbeat after its join (the join itself sets
            /// the node's last-seen time).
            func heartbeats() async throws {
                try await waitUntil("the follower holds its identity") { FileManager.default.fileExists(atPath: "\(directory)/node.json") }
                let joined = try #require(try await cluster.admin.nodes().nodes.first { $0.name == "lost" }).lastSeen
                try await waitUntil("the follower heartbeats under its name") {
                    let nodes = try await cluster.admin.nodes().nodes
                    return nodes.count == 1 && nodes[0].name == "lost" && nodes[0].lastSeen > joined
                }
            }
            let created = try await cluster.ferry(["token", "create", "--uses", "1", "--ttl", "1h"])
            let once = created.stdout.trimmingWhitespace()
            #expect(created.status == 0, "\(created.stderr)")

            // A first join: the leader records the node, the follower dies before it holds its identity.
            await killedByTheFailpoint(try follower(cluster.leader.url, token: once, log: "lost-1.log", killedAfterTheAnswer: true))
            #expect(try await cluster.admin.nodes().nodes.map(\.name) == ["lost"])
            #expect(!FileManager.default.fileExists(atPath: "\(directory)/node.json") && FileManager.default.fileExists(atPath: "\(directory)/join-proof"))
            // Another machine with the token cannot take the name meanwhile.
            let other = try await runProcess(
                RepositoryLayout.ferryBinary,
                ["follower", "--data-dir", cluster.dir.sub("node-thief"), "--leader", cluster.leader.url, "--name", "lost", "--listen", "127.0.0.1:0",
                 "--docker-host", "unix://\(cluster.dir.sub("no-docker.sock"))", "--log-level", "error"],
                environment: ["FERRY_JOIN_TOKEN": cluster.leader.joinToken])
            #expect(other.status == 1 && other.stderr.contains("has already joined"), "\(other.stderr)")
            // Its next start joins under its name with the one-use token, spent by the first join.
            let second = try follower(cluster.leader.url, token: once, log: "lost-2.log")
            try await heartbeats()
            #expect(FileManager.default.fileExists(atPath: "\(directory)/node.json") && !FileManager.default.fileExists(atPath: "\(directory)/join-proof"))
            let tokens = try await cluster.ferry(["token", "list", "--json"])
            let listed = try FerryJSON.decoder().decode(JoinTokenList.self, from: Data(tokens.stdout.utf8)).tokens
            let limited = listed.filter { $0.usesLeft != nil }
            #expect(limited.count == 1 && limited.first?.uses == 1, "\(tokens.stdout)")
            await second.stop()

            // Joining again (the leader under another URL) with its credential: killed after the
            // answer, its node.json still holds the credential the leader replaced.
            let moved = cluster.leader.url.replacingOccurrences(of: "127.0.0.1", with: "localhost")
            #expect(moved != cluster.leader.url)
            let before = try Data(contentsOf: URL(fileURLWithPath: "\(directory)/node.json"))
            await killedByTheFailpoint(try follower(moved, token: cluster.leader.joinToken, log: "lost-3.log", killedAfterTheAnswer: true))
            #expect(try Data(contentsOf: URL(fileURLWithPath: "\(directory)/node.json")) == before)
            let third = try follower(moved, token: cluster.leader.joinToken, log: "lost-4.log")
            try await waitUntil("the follower joined again") {
                (try? Data(contentsOf: URL(fileURLWithPath: "\(directory)/node.json"))).map { $0 != before } ?? false
            }
            try await heartbeats()
            await third.stop()
        }
    }
}
