import FerryCore
@testable import FerryState
import Foundation
import GRDB
import Testing

extension NodeIdentityDatabaseTests {
    /// Left by an earlier session: a node whose join's answer was lost (a cut connection, a stop
    /// before it wrote `node.json`) found its name taken by its own join (a first join) or held a
    /// credential the leader no longer took (a join again), until an operator removed the node.
    @Test func aNodeThatNeverReceivedItsJoinsAnswerJoinsAgainWithTheSameProof() async throws {
        let database = try FerryDatabase.inMemory()
        let token = try await database.createJoinToken(secretHash: "s", description: "", maxUses: 1, now: t0)
        // A first join with the secret the node kept; its answer never arrives.
        let lost = try await database.join(name: "a", address: nil, platform: "p", credentialHash: "lost", proof: "kept", joinToken: token.id, now: t0)
        // Another machine under the name, without the node's secret, is still refused.
        for proof in [nil, "guess"] as [String?] {
            await #expect(throws: FerryError.self) {
                try await database.join(name: "a", address: nil, platform: "p", credentialHash: "x", proof: proof, now: t0)
            }
        }
        // The node repeats the join: the same node, a new credential, no second use of the token.
        let first = try await database.join(name: "a", address: nil, platform: "p", credentialHash: "one", proof: "kept", joinToken: token.id, now: t0)
        #expect(first.id == lost.id)
        #expect(try await database.node(credentialHash: "lost") == nil)
        #expect(try await database.node(credentialHash: "one")?.id == lost.id)
        #expect(try await database.joinToken(secretHash: "s")?.uses == 1)
        // Once it uses its credential (a heartbeat), the secret joins nothing any more.
        try await database.heartbeat(nodeID: first.id!, dockerVersion: nil, dockerError: nil)
        await #expect(throws: FerryError.self) {
            try await database.join(name: "a", address: nil, platform: "p", credentialHash: "y", proof: "kept", now: t0)
        }

        // Joining again with its credential ("one"), the answer lost again: its credential as it
        // was still proves the name until the new one is used, however often the answer is lost.
        _ = try await database.join(name: "a", address: nil, platform: "p", credentialHash: "two", proof: "one", now: t0)
        _ = try await database.join(name: "a", address: nil, platform: "p", credentialHash: "three", proof: "one", now: t0)
        await #expect(throws: FerryError.self) {
            try await database.join(name: "a", address: nil, platform: "p", credentialHash: "z", proof: "two", now: t0)
        }
        let third = try await database.join(name: "a", address: nil, platform: "p", credentialHash: "four", proof: "one", now: t0)
        #expect(third.id == lost.id && third.joinProofHash == "one")
        try await database.heartbeat(nodeID: third.id!)
        await #expect(throws: FerryError.self) {
            try await database.join(name: "a", address: nil, platform: "p", credentialHash: "w", proof: "one", now: t0)
        }
        // A revoked token is refused even for a repeated join.
        let node = try await database.join(name: "b", address: nil, platform: "p", credentialHash: "b1", proof: "b-kept", joinToken: nil, now: t0)
        let revocable = try await database.createJoinToken(secretHash: "r", description: "", now: t0)
        _ = try await database.join(name: "b", address: nil, platform: "p", credentialHash: "b2", proof: "b1", joinToken: revocable.id, now: t0)
        _ = try await database.revokeJoinToken(id: revocable.id!, now: t0)
        await #expect(throws: FerryError.self) {
            try await database.join(name: "b", address: nil, platform: "p", credentialHash: "b3", proof: "b1", joinToken: revocable.id, now: t0)
        }
        // A removed node's proof joins it back to nothing: the name is free, the join a new node.
        _ = try await database.removeNode(named: "b", force: true, reachableWithin: .seconds(5), now: t0)
        let fresh = try await database.join(name: "b", address: nil, platform: "p", credentialHash: "n1", proof: "b1", now: t0)
        #expect(fresh.id != node.id)
        #expect(try await database.node(id: node.id!)?.joinProofHash == nil)
        // An expired token is refused even for a repeated join.
        let expiring = try await database.createJoinToken(secretHash: "e", description: "", expiresAt: t0.addingTimeInterval(60), maxUses: 1, now: t0)
        _ = try await database.join(name: "c", address: nil, platform: "p", credentialHash: "c1", proof: "c-kept", joinToken: expiring.id, now: t0)
        await #expect(throws: FerryError.self) {
            try await database.join(name: "c", address: nil, platform: "p", credentialHash: "c2", proof: "c-kept", joinToken: expiring.id, now: t0.addingTimeInterval(61))
        }
        _ = try await database.join(name: "c", address: nil, platform: "p", credentialHash: "c3", proof: "c-kept", joinToken: expiring.id, now: t0.addingTimeInterval(59))
    }

    @Test("v10: a node of an earlier release has no join proof: only its credential proves its name")
    func nodesFromBeforeJoinProofs() async throws {
        let queue = try DatabaseQueue()
        try FerryDatabase.migrator.migrate(queue, upTo: "v9: load slot leases count only the time a slot is held")
        try await queue.write { db in
            try db.execute(
                sql: "INSERT INTO nodes (name, address, platform, credential_hash, joined_at, last_seen) VALUES ('old', NULL, 'linux/amd64', 'h-old', ?, ?)",
                arguments: [t0, t0])
        }
        let database = try FerryDatabase(queue)
        #expect(try await database.node(credentialHash: "h-old")?.joinProofHash == nil)
        await #expect(throws: FerryError.self) { try await database.join(name: "old", address: nil, platform: "p", credentialHash: "x") }
        let again = try await database.join(name: "old", address: nil, platform: "p", credentialHash: "new", proof: "h-old")
        #expect(again.joinProofHash == "h-old")
    }
}
