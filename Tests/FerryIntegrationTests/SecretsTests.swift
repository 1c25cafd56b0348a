import FerryCore
import FerryMesh
import FerryTestSupport
import Foundation
import Testing

/// No secret ever shows: not in a response, not in a log line, not in an error message.
@Suite("Secrets never leak", .serialized, .requiresRoot("dockerd"))
struct SecretsTests {
    @Test("Upstream credentials, tokens and node credentials appear in no log, response or error")
    func noSecretsAnywhere() async throws {
        try await TestCluster.with("secret", nodes: ["a"], tokenAuth: true) { cluster in
            let reference = try await cluster.push("demo/app:1", layers: [.init("sec", "1M")])
            // A good install, a failing one (unknown tag), a refused admin token, a refused join.
            #expect(try await cluster.ferry(["install", reference, "--json"]).status == 0)
            let failing = try await cluster.ferry(["install", "\(cluster.registry.host)/demo/app:nope", "--json"])
            let refusedAdmin = try await runProcess(
                RepositoryLayout.ferryBinary, ["nodes", "--leader", cluster.leader.url, "--ca", cluster.leader.caFile], environment: ["FERRY_TOKEN": "bogus"])
            let joinToken = cluster.leader.joinToken
            let refusedJoin = try await runProcess(
                RepositoryLayout.ferryBinary,
                ["follower", "--data-dir", cluster.dir.sub("x"), "--leader", cluster.leader.url, "--name", "x", "--listen", "127.0.0.1:0"],
                environment: [
                    "FERRY_JOIN_TOKEN": try JoinToken(secret: String(repeating: "cd", count: 32), caFingerprint: JoinToken(parsing: joinToken).caFingerprint).description
                ])
            // Each failed for its reason (a broken command line would print nothing to scan).
            #expect(failing.status != 0 && failing.stdout.contains("MANIFEST_UNKNOWN"), "\(failing.stdout)\n\(failing.stderr)")
            #expect(refusedAdmin.status != 0 && !refusedAdmin.stderr.isEmpty, "\(refusedAdmin.stderr)")
            #expect(refusedJoin.status != 0 && !refusedJoin.stderr.isEmpty, "\(refusedJoin.stderr)")
            // Everything an operator or an attacker could read.
            var seen = [failing.stdout, failing.stderr, refusedAdmin.stdout, refusedAdmin.stderr, refusedJoin.stdout, refusedJoin.stderr]
            seen.append(try await cluster.ferry(["status", "--json"]).stdout)
            seen.append(try await cluster.ferry(["nodes", "--json"]).stdout)
            seen.append(try await cluster.ferry(["images", "--json"]).stdout)
            seen.append(cluster.leader.process.log)
            seen.append(cluster.followerLog("a"))
            let metrics = try await runChecked(
                "/usr/bin/curl", ["-sf", "--cacert", cluster.leader.caFile, "-H", "Authorization: Bearer \(cluster.leader.token)", "\(cluster.leader.url)/metrics"])
            seen.append(metrics)
            let secrets: [(String, String)] = [
                ("upstream password", TestCluster.password),
                ("upstream Basic header", Data("\(TestCluster.user):\(TestCluster.password)".utf8).base64EncodedString()),
                ("admin token", cluster.leader.token),
                ("join token secret", try JoinToken(parsing: joinToken).secret),
                ("node credential", try cluster.followerCredential("a")),
                ("peer signing key", try String(contentsOfFile: "\(cluster.leader.dataDirectory)/peer-key", encoding: .utf8).trimmingWhitespace()),
            ]
            for (index, text) in seen.enumerated() {
                for (name, secret) in secrets {
                    #expect(!text.contains(secret), "the \(name) shows in output #\(index)")
                }
            }
            // And the secrets on disk are private to their owner.
            for file in ["admin-token", "join-token", "peer-key", "ca-key.pem", "tls-key.pem"] {
                let attributes = try FileManager.default.attributesOfItem(atPath: "\(cluster.leader.dataDirectory)/\(file)")
                #expect((attributes[.posixPermissions] as? Int) == 0o600, "\(file)")
            }
            for file in ["node.json", "tls-key.pem"] {
                let attributes = try FileManager.default.attributesOfItem(atPath: "\(cluster.dir.sub("node-a"))/\(file)")
                #expect((attributes[.posixPermissions] as? Int) == 0o600, "\(file)")
            }
        }
    }
}
