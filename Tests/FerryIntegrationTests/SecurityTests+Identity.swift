import FerryCoordinator
import FerryCore
import FerryMesh
import FerryTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Identity is fixed: a name belongs to the node that joined with it, an operator can cut a node
/// off, join tokens expire, run out and can be revoked, and no token is on a command line.
extension SecurityTests {
    @Test("Joining with the join token under an existing node's name is refused; that node keeps installing")
    func rejoinTakeoverIsRefused() async throws {
        try await TestCluster.with("secname", nodes: ["a"]) { cluster in
            let reference = try await cluster.push("demo/name:1", layers: [.init("name", "1M")])
            do {
                _ = try await MaliciousNode.join(cluster, name: "a")
                Issue.record("the join token took over node a")
            } catch let error as FerryError {
                #expect(error.code == .conflict, "\(error)")
                #expect(error.message.contains("ferry nodes remove a"), "\(error.message)")
            }
            // The real node is untouched: its credential works, installs land in its engine.
            let result = try await cluster.ferry(["install", reference])
            #expect(result.status == 0, "\(result.stdout)\n\(result.stderr)")
            let run = try await cluster.engine("a").run(reference)
            #expect(run.stdout.contains("ferry-image demo/name:1 ok"), "\(run.stderr)")
            #expect(try await cluster.admin.install(id: 1).targets.map(\.node) == ["a"])

            // A node that proves it is itself (its current credential) may join again under its name.
            let mallory = try await MaliciousNode.join(cluster, name: "mallory")
            let again = try await MeshClient.join(
                baseURL: cluster.leader.url, joinToken: cluster.leader.joinToken, caFile: cluster.leader.caFile,
                JoinRequest(name: "mallory", address: nil, platform: Platform.host.description, credential: mallory.credential))
            #expect(again.nodeID == mallory.join.nodeID && again.credential != mallory.credential)
            await #expect(throws: FerryError.self) { try await mallory.heartbeat(address: nil) }
        }
    }

    @Test("ferry nodes remove cuts a node off at once, fails its unfinished targets, and frees its name")
    func nodesRemoveCutsANodeOff() async throws {
        try await TestCluster.with("secremove", nodes: []) { cluster in
            let reference = try await cluster.push("demo/rm:1", layers: [.init("rm", "1M")])
            let stolen = try await MaliciousNode.join(cluster, name: "stolen")
            try await stolen.heartbeat(address: nil)
            let install = try await cluster.admin.install(InstallRequest(images: [reference], nodes: ["stolen"]))

            // Still heartbeating, with an unfinished target: refused without --force.
            let refused = try await cluster.ferry(["nodes", "remove", "stolen"])
            #expect(refused.status == 1 && refused.stderr.contains("--force"), "\(refused.stderr)")
            let unknown = try await cluster.ferry(["nodes", "remove", "nobody"])
            #expect(unknown.status == 1 && unknown.stderr.contains("no node named 'nobody'"), "\(unknown.stderr)")
            #expect(unknown.stderr.split(separator: "\n").count == 1)
            // Not a name a node can have: the known ones are listed all the same.
            let malformed = try await cluster.ferry(["nodes", "remove", "Stolen"])
            #expect(malformed.status == 1 && malformed.stderr.contains("no node named 'Stolen'; known nodes: ") && malformed.stderr.contains("stolen"), "\(malformed.stderr)")

            let series = #"ferry_node_certificate_expiry_seconds{node="stolen"}"#
            try await waitUntil("the node's certificate expiry on the leader's /metrics") { try await cluster.leaderMetrics()[series] != nil }

            let removed = try await cluster.ferry(["nodes", "remove", "stolen", "--force"])
            #expect(removed.status == 0, "\(removed.stderr)")
            #expect(removed.stdout.contains("removed node stolen; 1 unfinished install target failed"), "\(removed.stdout)")
            // Its credential is refused on the very next request, on every kind of route.
            do {
                try await stolen.heartbeat(address: nil)
                Issue.record("the removed node's credential still works")
            } catch let error as FerryError {
                #expect(error.code == .unauthorized, "\(error)")
            }
            #expect(try await stolen.raw("GET", "/v2/")?.status == 401)
            #expect(try await stolen.raw("GET", MeshAPI.work + "?wait=0")?.status == 401)
            #expect(try await cluster.admin.nodes().nodes.isEmpty)
            // Its certificate expiry series goes (an audit found a removed node's frozen there for good).
            try await waitUntil("the removed node's series to leave /metrics") { try await cluster.leaderMetrics()[series] == nil }
            try await waitUntil("the install to finish") { try await cluster.admin.install(id: install.id).isFinished }
            let status = try await cluster.admin.install(id: install.id)
            #expect(status.state == .failed)
            #expect(status.targets.first?.state == .failed && status.targets.first?.error?.message == "node removed", "\(status.targets)")

            // The name is free: a new machine joins under it, with its own credential.
            let replacement = try await MaliciousNode.join(cluster, name: "stolen")
            try await replacement.heartbeat(address: nil)
            #expect(try await cluster.admin.nodes().nodes.map(\.name) == ["stolen"])
            await #expect(throws: FerryError.self) { try await stolen.heartbeat(address: nil) }
        }
    }

    @Test("Join tokens made with ferry token expire, run out and are revoked; followers join with them from a file")
    func joinTokenLifecycle() async throws {
        try await TestCluster.with("sectoken", nodes: []) { cluster in
            let dockerHost = "unix://\(cluster.dir.sub("no-such-docker.sock"))"
            /// `ferry follower` joining as `name` with the token in a file; nil when it joined (it keeps running).
            func follower(_ name: String, token: String) async throws -> (process: BackgroundProcess?, refusal: String?) {
                let file = cluster.dir.sub("\(name).token")
                try (token + "\n").write(toFile: file, atomically: true, encoding: .utf8)
                let directory = cluster.dir.sub("node-\(name)")
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
                let process = try BackgroundProcess.spawn(
                    RepositoryLayout.ferryBinary,
                    ["follower", "--data-dir", directory, "--leader", cluster.leader.url, "--name", name, "--listen", "127.0.0.1:0",
                     "--docker-host", dockerHost, "--join-token-file", file],
                    logPath: "\(directory)/follower.log")
                var exited = false
                try await waitUntil("follower \(name) to join or exit") {
                    exited = waitpid(process.pid, nil, WNOHANG) == process.pid
                    return exited || FileManager.default.fileExists(atPath: "\(directory)/address")
                }
                if exited { return (nil, process.log) }
                cluster.cleanups.append { await process.stop() }
                return (process, nil)
            }
            func create(_ arguments: [String]) async throws -> String {
                let result = try await cluster.ferry(["token", "create"] + arguments)
                #expect(result.status == 0, "\(result.stderr)")
                return result.stdout.trimmingWhitespace()
            }
            func tokens() async throws -> [JoinTokenInfo] {
                let result = try await cluster.ferry(["token", "list", "--json"])
                return try FerryJSON.decoder().decode(JoinTokenList.self, from: Data(result.stdout.utf8)).tokens
            }

            let once = try await create(["--uses", "1", "--ttl", "1h", "--description", "rack 4"])
            #expect(try JoinToken(parsing: once).caFingerprint == JoinToken(parsing: cluster.leader.joinToken).caFingerprint)
            let first = try await follower("f1", token: once)
            let f1 = try #require(first.process, "f1 did not join: \(first.refusal ?? "")")
            // The token is on no command line: the follower's shows only the file.
            let commandLine = try String(contentsOfFile: "/proc/\(f1.pid)/cmdline", encoding: .utf8)
            #expect(!commandLine.contains(try JoinToken(parsing: once).secret))

            let second = try await follower("f2", token: once)
            #expect(second.process == nil)
            #expect(second.refusal?.contains("has been used 1 time") == true, "\(second.refusal ?? "")")
            var listed = try #require(try await tokens().first { $0.description == "rack 4" })
            #expect(listed.state == .usedUp && listed.uses == 1 && listed.usesLeft == 0 && listed.expiresAt != nil)

            let short = try await create(["--ttl", "1s"])
            try await waitUntil("the 1 s token to expire", timeout: .seconds(30), every: .milliseconds(200)) {
                try await tokens().last?.state == .expired
            }
            let late = try await follower("f3", token: short)
            #expect(late.process == nil && late.refusal?.contains("expired") == true, "\(late.refusal ?? "")")

            let revocable = try await create([])
            let id = try #require(try await tokens().last?.id)
            let revoke = try await cluster.ferry(["token", "revoke", "\(id)"])
            #expect(revoke.status == 0 && revoke.stdout == "revoked join token \(id)\n", "\(revoke.stderr)")
            let revoked = try await follower("f4", token: revocable)
            #expect(revoked.process == nil && revoked.refusal?.contains("was revoked") == true, "\(revoked.refusal ?? "")")
            let unknown = try await cluster.ferry(["token", "revoke", "999"])
            #expect(unknown.status == 1 && unknown.stderr.contains("no join token with id 999"), "\(unknown.stderr)")

            // The leader's own file token is listed (first, no expiry) and revocable like the others.
            let all = try await tokens()
            let file = try #require(all.first)
            #expect(file.state == .valid && file.expiresAt == nil && file.usesLeft == nil && file.description.contains("join-token"))
            #expect(try await cluster.ferry(["token", "revoke", "\(file.id)"]).status == 0)
            await #expect(throws: FerryError.self) { try await MaliciousNode.join(cluster, name: "late") }

            // Nothing shown after creation holds a secret.
            let table = try await cluster.ferry(["token", "list"])
            for token in [once, short, revocable, cluster.leader.joinToken] {
                #expect(!table.stdout.contains(try JoinToken(parsing: token).secret))
            }
            listed = try #require(try await tokens().first { $0.description == "rack 4" })
            #expect(listed.lastUsedAt != nil)
        }
    }

    /// Left by an earlier session: a joined follower ignored the join token it was given when its
    /// node.json named the same leader URL, so after a new cluster CA, a node given the new token
    /// only failed every TLS handshake with the leader. And the docs' way to a new CA (move the
    /// CA files away) was refused by the leader's start, so there was none short of a new cluster.
    @Test("ferry leader new-ca: the leader starts under the new CA, a follower given the new join token joins again under it keeping its name, a stale token is ignored, old secrets are refused, and a server presenting the old CA cannot move the node back")
    func newClusterCA() async throws {
        try await TestCluster.with("secnewca", nodes: [], engines: []) { cluster in
            let directory = cluster.dir.sub("node-ca")
            let arguments = [
                "follower", "--data-dir", directory, "--leader", cluster.leader.url, "--name", "ca", "--listen", "127.0.0.1:0",
                "--docker-host", "unix://\(cluster.dir.sub("no-docker.sock"))",
            ]
            func follower(_ token: String, log: String) throws -> BackgroundProcess {
                try BackgroundProcess.spawn(RepositoryLayout.ferryBinary, arguments, logPath: cluster.dir.sub(log), environment: ["FERRY_JOIN_TOKEN": token])
            }
            func heartbeats(after seen: Date?) async throws {
                try await waitUntil("the follower heartbeats") {
                    let nodes = try await cluster.admin.nodes().nodes
                    return nodes.count == 1 && nodes[0].name == "ca" && seen.map { nodes[0].lastSeen > $0 } ?? true
                        && FileManager.default.fileExists(atPath: "\(directory)/node.json") && FileManager.default.fileExists(atPath: "\(directory)/ca.pem")
                }
            }
            let oldToken = cluster.leader.joinToken
            let first = try follower(oldToken, log: "ca-1.log")
            try await heartbeats(after: nil)
            await first.stop()
            let oldIdentity = try Data(contentsOf: URL(fileURLWithPath: "\(directory)/node.json"))

            // The site makes a new cluster CA: refused while the leader runs, made once it is stopped.
            let newCA = ["leader", "new-ca", "--data-dir", cluster.leader.dataDirectory]
            let running = try await cluster.ferry(newCA)
            #expect(running.status == 1 && running.stderr.hasPrefix("ferry: error: another Ferry process is using the data directory"), "\(running.stderr)")
            #expect(running.stderr.split(separator: "\n").count == 1, "\(running.stderr)")
            let notALeader = try await cluster.ferry(["leader", "new-ca", "--data-dir", directory])
            #expect(notALeader.status == 1 && notALeader.stderr.contains("is a follower's data directory"), "\(notALeader.stderr)")
            #expect(FileManager.default.fileExists(atPath: "\(directory)/ca.pem"), "the follower's directory untouched")
            await cluster.killLeader()
            let made = try await cluster.ferry(newCA)
            #expect(made.status == 0, "\(made.stderr)")
            #expect(made.stdout.contains("made a new cluster CA") && made.stdout.contains("ca.pem.replaced-"), "\(made.stdout)")
            try await cluster.restartLeader()
            let newToken = cluster.leader.joinToken
            #expect(try JoinToken(parsing: newToken).caFingerprint != (try JoinToken(parsing: oldToken).caFingerprint))
            let seen = try #require(try await cluster.admin.nodes().nodes.first).lastSeen

            let rejoined = try follower(newToken, log: "ca-2.log")
            try await waitUntil("the follower joined again") {
                (try? Data(contentsOf: URL(fileURLWithPath: "\(directory)/node.json"))).map { $0 != oldIdentity } ?? false
            }
            // A heartbeat after the join shows the new identity works.
            let joined = try #require(try await cluster.admin.nodes().nodes.first).lastSeen
            try await heartbeats(after: max(joined, seen))
            await rejoined.stop()
            let ca = try String(contentsOfFile: "\(directory)/ca.pem", encoding: .utf8)
            #expect(try MeshTLS.fingerprint(ofPEM: ca) == (try JoinToken(parsing: newToken).caFingerprint))
            #expect(!FileManager.default.fileExists(atPath: "\(directory)/ca.pem.joining"))
            let rotated = try Data(contentsOf: URL(fileURLWithPath: "\(directory)/node.json"))
            // The old join token's secret does not join under the new fingerprint either.
            let oldSecret = JoinToken(secret: try JoinToken(parsing: oldToken).secret, caFingerprint: try JoinToken(parsing: newToken).caFingerprint)
            let refusedJoin = try await runProcess(
                RepositoryLayout.ferryBinary,
                ["follower", "--data-dir", cluster.dir.sub("node-other"), "--leader", cluster.leader.url, "--name", "other", "--listen", "127.0.0.1:0",
                 "--docker-host", "unix://\(cluster.dir.sub("no-docker.sock"))", "--log-level", "error"],
                environment: ["FERRY_JOIN_TOKEN": oldSecret.description])
            #expect(refusedJoin.status == 1, "\(refusedJoin.stderr)")

            // The old token left in its configuration is stale now: ignored (with a warning).
            let seenAgain = try #require(try await cluster.admin.nodes().nodes.first).lastSeen
            let stale = try follower(oldToken, log: "ca-3.log")
            try await heartbeats(after: seenAgain)
            await stale.stop()
            #expect(try Data(contentsOf: URL(fileURLWithPath: "\(directory)/node.json")) == rotated)

            // A server at the leader's address presenting the old CA (whose key may have leaked:
            // here the old leader itself, its CA put back) cannot move the node back with the old token.
            await cluster.killLeader()
            let leaderDirectory = cluster.leader.dataDirectory
            for file in ["ca.pem", "ca-key.pem"] {
                let kept = try #require(try FileManager.default.contentsOfDirectory(atPath: leaderDirectory).first { $0.hasPrefix("\(file).replaced-") })
                try FileManager.default.removeItem(atPath: "\(leaderDirectory)/\(file)")
                try FileManager.default.moveItem(atPath: "\(leaderDirectory)/\(kept)", toPath: "\(leaderDirectory)/\(file)")
            }
            try FileManager.default.removeItem(atPath: "\(leaderDirectory)/ca-vouch.pem")
            try await cluster.restartLeader()
            let back = try await runProcess(RepositoryLayout.ferryBinary, arguments + ["--log-level", "error"], environment: ["FERRY_JOIN_TOKEN": oldToken])
            #expect(back.status == 1)
            #expect(back.stderr.hasPrefix("ferry: error: the leader at \(cluster.leader.url) presents the join token's cluster CA, which this node's CA"), "\(back.stderr)")
            #expect(back.stderr.split(separator: "\n").count == 1, "\(back.stderr)")
            #expect(try Data(contentsOf: URL(fileURLWithPath: "\(directory)/node.json")) == rotated)
        }
    }

    @Test("A follower started by the test cluster has no join token on its command line")
    func joinTokenIsNotOnTheCommandLine() async throws {
        try await TestCluster.with("seccmdline", nodes: ["a"], engines: []) { cluster in
            let pid = try #require(cluster.nodes["a"]?.process?.pid)
            let commandLine = try String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8)
            #expect(commandLine.contains("follower"))
            let secret = try JoinToken(parsing: cluster.leader.joinToken).secret
            #expect(!commandLine.contains(secret), "the join token is visible in ps")
        }
    }

    @Test("A data directory from before join tokens were managed keeps its join token and its nodes")
    func joinTokenFileSurvivesTheUpgrade() async throws {
        let dir = try TemporaryDirectory("secupgrade")
        defer { dir.remove() }
        let directory = dir.sub("leader")
        // A leader that had a node join, its state.db then taken back to schema v2 (as the release
        // before token management left it: no join_tokens table, no removed_at column).
        var leader = try await LeaderHarness.start(dataDirectory: directory)
        let caFile = "\(directory)/ca.pem"
        let fileToken = try JoinToken(parsing: leader.service.joinToken)
        let old: JoinResponse
        do {
            old = try await MeshClient.join(
                baseURL: leader.url, joinToken: fileToken.description, caFile: caFile, JoinRequest(name: "old", address: nil, platform: "linux/amd64"))
        } catch {
            await leader.stop()
            throw error
        }
        await leader.stop()
        let downgrade = try await runProcess(
            "/usr/bin/sqlite3",
            ["\(directory)/state.db",
             "DROP TABLE join_tokens; ALTER TABLE nodes DROP COLUMN removed_at; DELETE FROM grdb_migrations WHERE identifier LIKE 'v3:%';"])
        #expect(downgrade.succeeded, "\(downgrade.stderr)")

        leader = try await LeaderHarness.start(dataDirectory: directory)
        do {
            try await Self.checkUpgradedLeader(leader, caFile: caFile, fileToken: fileToken, old: old)
        } catch {
            await leader.stop()
            throw error
        }
        await leader.stop()
    }

    private static func checkUpgradedLeader(_ leader: LeaderHarness, caFile: String, fileToken: JoinToken, old: JoinResponse) async throws {
        #expect(leader.service.joinToken == fileToken.description, "the upgrade kept the token file")
        // The node that joined before keeps its credential and its name; the old token still joins new nodes.
        _ = try await MeshClient(baseURL: leader.url, credential: old.credential, caFile: caFile)
            .heartbeat(Heartbeat(dockerVersion: "27.0.0", dockerError: nil, address: nil))
        _ = try await MeshClient.join(
            baseURL: leader.url, joinToken: fileToken.description, caFile: caFile, JoinRequest(name: "new", address: nil, platform: "linux/amd64"))
        let tokens = try await leader.client.joinTokens().tokens
        #expect(tokens.count == 1 && tokens.first?.uses == 1 && tokens.first?.state == .valid && tokens.first?.expiresAt == nil, "\(tokens)")
        #expect(try await leader.client.nodes().nodes.map(\.name) == ["new", "old"])
        await #expect(throws: FerryError.self) {
            try await MeshClient.join(
                baseURL: leader.url, joinToken: fileToken.description, caFile: caFile, JoinRequest(name: "old", address: nil, platform: "linux/amd64"))
        }
    }
}
