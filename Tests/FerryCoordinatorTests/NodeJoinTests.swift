import FerryCore
import FerryMesh
import FerryTestSupport
import Foundation
import Testing

@testable import FerryCoordinator

@Suite("NodeJoin")
struct NodeJoinTests {
    @Test("a node that joined a cluster is refused a join token of another cluster (another CA) before anything is sent or written; its own cluster's goes on")
    func anotherClustersTokenIsRefused() async throws {
        try await withTemporaryDirectory("ferry-join") { directory in
            let data = try DataDirectory(directory.path)
            let ca = try ClusterCA.loadOrCreate(in: data)
            try NodeIdentity(nodeID: 1, name: "node1", credential: "c", leader: "https://127.0.0.1:1").save(in: data)
            let join = NodeJoin(
                leaderURL: "https://127.0.0.1:1", name: "node1", platform: .host, advertisedURL: nil, directory: data, previousCredential: "c")
            let other = JoinToken(secret: "s", caFingerprint: String(repeating: "ab", count: 32))
            do {
                _ = try await join.join(with: other)
                Issue.record("joined another cluster")
            } catch let error as FerryError {
                #expect(error.code == .configuration && error.message.contains("belongs to another cluster"), "\(error.message)")
                #expect(error.message.contains(data.nodeIdentityPath), "\(error.message)")
            }
            let held = try MeshTLS.fingerprint(ofPEM: try String(contentsOfFile: data.caCertificatePath, encoding: .utf8))
            #expect(held == (try MeshTLS.fingerprint(ofPEM: ca.certificatePEM)), "ca.pem was overwritten")
            #expect(NodeIdentity.load(from: data)?.leader == "https://127.0.0.1:1")
            // Its own cluster's token (a leader that moved) passes the check and goes on to the leader (nobody listens here).
            let own = JoinToken(secret: "s", caFingerprint: try MeshTLS.fingerprint(ofPEM: ca.certificatePEM))
            await #expect {
                _ = try await join.join(with: own)
            } throws: { error in
                !"\(error)".contains("belongs to another cluster") && !((error as? FerryError)?.message.contains("belongs to another cluster") ?? false)
            }
        }
    }

    @Test("a first join's proof is kept for a repeat to the same cluster only; a file cut short or another cluster's gets a new one")
    func firstJoinProof() async throws {
        try await withTemporaryDirectory("ferry-join-proof") { directory in
            let data = try DataDirectory(directory.path)
            let join = NodeJoin(leaderURL: "https://127.0.0.1:1", name: "node1", platform: .host, advertisedURL: nil, directory: data)
            let ours = JoinToken(secret: "s", caFingerprint: String(repeating: "ab", count: 32))
            let theirs = JoinToken(secret: "s", caFingerprint: String(repeating: "cd", count: 32))
            let first = try join.firstJoinProof(for: ours)
            #expect(first.count == 64)
            #expect(try join.firstJoinProof(for: ours) == first, "a repeat sends the same proof")
            let other = try join.firstJoinProof(for: theirs)
            #expect(other != first, "another cluster never gets this one's")
            #expect(try join.firstJoinProof(for: theirs) == other)
            let attributes = try FileManager.default.attributesOfItem(atPath: data.joinProofPath)
            #expect((attributes[.posixPermissions] as? Int) == 0o600)
            for cut in ["", "\n", String(other.prefix(10)), other, "short \(theirs.caFingerprint)"] {
                try cut.write(toFile: data.joinProofPath, atomically: true, encoding: .utf8)
                let made = try join.firstJoinProof(for: theirs)
                #expect(made != other && made.count == 64, "from '\(cut.prefix(12))'")
            }
        }
    }
}
