import FerryCore
import FerryMesh
import FerryTestSupport
import Foundation
import Testing

/// Mesh protocol versions across join and heartbeat (docs/operations.md, "Upgrades"): the
/// leader accepts its own version and the one before, and refuses others naming both.
@Suite("Mesh protocol versions", .serialized, .requiresRoot("dockerd"))
struct MeshProtocolTests {
    @Test("Joins and heartbeats of another protocol version are refused with both versions named; the previous version and none (0.1.0) are accepted")
    func rawJoinsAndHeartbeats() async throws {
        try await TestCluster.with("proto", nodes: [], engines: []) { cluster in
            func join(_ name: String, version: Int?) async throws -> JoinResponse {
                try await MeshClient.join(
                    baseURL: cluster.leader.url, joinToken: cluster.leader.joinToken, caFile: cluster.leader.caFile,
                    JoinRequest(name: name, address: nil, platform: Platform.host.description, protocolVersion: version))
            }
            for (version, advice) in [(0, "upgrade ferry on this node"), (FerryVersion.meshProtocol + 1, "upgrade the leader first")] {
                do {
                    _ = try await join("v\(version)", version: version)
                    Issue.record("a join with protocol \(version) was accepted")
                } catch let error as FerryError {
                    #expect(error.code == .protocolVersion)
                    #expect(error.message.contains("this node speaks mesh protocol \(version)"), "\(error.message)")
                    #expect(error.message.contains("speaks mesh protocol \(FerryVersion.meshProtocol)"))
                    #expect(error.message.contains(advice))
                }
            }
            #expect(try await cluster.admin.nodes().nodes.isEmpty)
            // One version behind, and a 0.1.0 follower that sends none, still join.
            _ = try await join("previous", version: FerryVersion.meshProtocol - 1)
            _ = try await join("unversioned", version: nil)
            #expect(try await cluster.admin.nodes().nodes.map(\.name).sorted() == ["previous", "unversioned"])

            let node = try await MaliciousNode.join(cluster, name: "raw")
            let refused = try #require(try await node.raw("POST", MeshAPI.heartbeat, body: #"{"protocolVersion":7}"#))
            #expect(refused.status == 400)
            let body = try JSONDecoder().decode(ErrorResponse.self, from: Data(refused.body))
            #expect(body.errors.first?.code == "PROTOCOL_VERSION")
            #expect(body.errors.first?.message.contains("mesh protocol 7") == true)
            let accepted = try #require(try await node.raw("POST", MeshAPI.heartbeat, body: #"{}"#))
            #expect(accepted.status == 200, "\(accepted.text)")
        }
    }

    @Test("A follower the leader refuses, at join or at a heartbeat, stops with one line naming both versions")
    func followerStops() async throws {
        try await TestCluster.with("protof", nodes: [], engines: []) { cluster in
            let directory = cluster.dir.sub("node-old")
            func follower(_ version: Int) async throws -> ProcessResult {
                try await runProcess(
                    RepositoryLayout.ferryBinary,
                    ["follower", "--data-dir", directory, "--leader", cluster.leader.url, "--name", "old", "--listen", "127.0.0.1:0",
                     "--docker-host", "unix://\(cluster.dir.sub("no-docker.sock"))", "--mesh-protocol", "\(version)", "--log-level", "error"],
                    environment: ["FERRY_JOIN_TOKEN": cluster.leader.joinToken])
            }
            let atJoin = try await follower(0)
            #expect(atJoin.status == 1)
            #expect(atJoin.stderr.hasPrefix("ferry: error: the leader at \(cluster.leader.url) refused this node: this node speaks mesh protocol 0"), "\(atJoin.stderr)")
            #expect(atJoin.stderr.split(separator: "\n").count == 1, "\(atJoin.stderr)")

            // Joined at the current version, then started claiming a version the leader no longer
            // accepts: its first heartbeat is refused and it stops.
            try? FileManager.default.removeItem(atPath: directory)
            let current = try BackgroundProcess.spawn(
                RepositoryLayout.ferryBinary,
                ["follower", "--data-dir", directory, "--leader", cluster.leader.url, "--name", "old", "--listen", "127.0.0.1:0",
                 "--docker-host", "unix://\(cluster.dir.sub("no-docker.sock"))"],
                logPath: cluster.dir.sub("old.log"), environment: ["FERRY_JOIN_TOKEN": cluster.leader.joinToken])
            // Joined and holding its identity (the leader lists the node before the follower has
            // written node.json): the next start heartbeats, and is refused there, not at a join.
            try await waitUntil("the follower joined") {
                try await cluster.admin.nodes().nodes.contains { $0.name == "old" } && FileManager.default.fileExists(atPath: "\(directory)/node.json")
            }
            await current.stop()
            #expect(FileManager.default.fileExists(atPath: "\(directory)/node.json"))
            let atHeartbeat = try await follower(FerryVersion.meshProtocol + 7)
            #expect(atHeartbeat.status == 1)
            // Nothing but the one line (the server it had started says nothing as it stops).
            let lines = atHeartbeat.stderr.split(separator: "\n")
            #expect(lines.count == 1, "\(atHeartbeat.stderr)")
            #expect(
                lines.first?.hasPrefix(
                    "ferry: error: the leader at \(cluster.leader.url) refused this node: this node speaks mesh protocol \(FerryVersion.meshProtocol + 7)") == true,
                "\(atHeartbeat.stderr)")
            #expect(atHeartbeat.stderr.contains("upgrade the leader first"))
        }
    }
}
