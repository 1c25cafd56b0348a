import FerryCore
@testable import FerryState
import Foundation
import GRDB
import Testing

/// Who may be a node: names held by the node that joined with them, removal, join tokens.
@Suite("FerryDatabase node identity and join tokens")
struct NodeIdentityDatabaseTests {
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    @Test func anExistingNameIsRefusedWithoutTheNodesCredential() async throws {
        let database = try FerryDatabase.inMemory()
        let node = try await database.join(name: "a", address: "https://a:1", platform: "linux/amd64", credentialHash: "one")
        for proof in [nil, "wrong"] as [String?] {
            await #expect(throws: FerryError.self) {
                try await database.join(name: "a", address: "https://evil:1", platform: "linux/amd64", credentialHash: "two", proof: proof)
            }
        }
        do {
            _ = try await database.join(name: "a", address: nil, platform: "linux/amd64", credentialHash: "three")
        } catch let error as FerryError {
            #expect(error.code == .conflict)
            #expect(error.message.contains("ferry nodes remove a"), "\(error.message)")
        }
        // The real node is untouched: same credential, same address.
        let kept = try #require(try await database.node(credentialHash: "one"))
        #expect(kept.id == node.id && kept.address == "https://a:1")
        #expect(try await database.node(credentialHash: "two") == nil)
    }

    @Test func aRefusedJoinTakesNoUseOfItsToken() async throws {
        let database = try FerryDatabase.inMemory()
        let token = try await database.createJoinToken(secretHash: "s", description: "round 1", maxUses: 2, now: t0)
        _ = try await database.join(name: "a", address: nil, platform: "linux/amd64", credentialHash: "one", joinToken: token.id, now: t0)
        await #expect(throws: FerryError.self) {
            try await database.join(name: "a", address: nil, platform: "linux/amd64", credentialHash: "two", joinToken: token.id, now: t0)
        }
        #expect(try await database.joinToken(secretHash: "s")?.uses == 1)
        _ = try await database.join(name: "b", address: nil, platform: "linux/amd64", credentialHash: "b1", joinToken: token.id, now: t0)
        // Used up: the third join is refused, and no node was added.
        do {
            _ = try await database.join(name: "c", address: nil, platform: "linux/amd64", credentialHash: "c1", joinToken: token.id, now: t0)
            Issue.record("a used-up token joined")
        } catch let error as FerryError {
            #expect(error.code == .unauthorized)
        }
        #expect(try await database.nodes().map(\.name) == ["a", "b"])
        let used = try #require(try await database.joinToken(secretHash: "s"))
        #expect(used.uses == 2 && used.lastUsedAt == t0)
    }

    @Test func expiredAndRevokedTokensJoinNothing() async throws {
        let database = try FerryDatabase.inMemory()
        let expiring = try await database.createJoinToken(secretHash: "e", description: "", expiresAt: t0.addingTimeInterval(60), now: t0)
        _ = try await database.join(name: "a", address: nil, platform: "p", credentialHash: "a1", joinToken: expiring.id, now: t0.addingTimeInterval(59))
        await #expect(throws: FerryError.self) {
            try await database.join(name: "b", address: nil, platform: "p", credentialHash: "b1", joinToken: expiring.id, now: t0.addingTimeInterval(60))
        }
        let revocable = try await database.createJoinToken(secretHash: "r", description: "", now: t0)
        let revoked = try await database.revokeJoinToken(id: revocable.id!, now: t0)
        #expect(revoked.revokedAt == t0)
        #expect(try await database.revokeJoinToken(id: revocable.id!, now: t0.addingTimeInterval(5)).revokedAt == t0, "revoking twice keeps the first time")
        await #expect(throws: FerryError.self) {
            try await database.join(name: "c", address: nil, platform: "p", credentialHash: "c1", joinToken: revocable.id, now: t0)
        }
        await #expect(throws: FerryError.self) { try await database.revokeJoinToken(id: 999) }
        #expect(try await database.joinTokens().map(\.id) == [expiring.id, revocable.id])
    }

    @Test func concurrentJoinsNeverTakeMoreUsesThanTheTokenHas() async throws {
        let database = try FerryDatabase.inMemory()
        let token = try await database.createJoinToken(secretHash: "s", description: "", maxUses: 3, now: t0)
        let joined = await withTaskGroup(of: Bool.self) { group in
            for index in 0..<20 {
                group.addTask {
                    (try? await database.join(name: "n\(index)", address: nil, platform: "p", credentialHash: "h\(index)", joinToken: token.id)) != nil
                }
            }
            return await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        #expect(joined == 3)
        #expect(try await database.nodes().count == 3)
        #expect(try await database.joinToken(secretHash: "s")?.uses == 3)
    }

    @Test func theFileTokenIsRecordedOnceAndAReplacedFileRevokesTheOldOne() async throws {
        let database = try FerryDatabase.inMemory()
        let first = try await database.adoptFileJoinToken(secretHash: "file1", now: t0)
        #expect(first.recorded && first.token.fromFile && first.token.expiresAt == nil && first.token.maxUses == nil)
        #expect(try await database.adoptFileJoinToken(secretHash: "file1", now: t0).recorded == false)
        // Revoked by an operator: a restart does not bring it back.
        _ = try await database.revokeJoinToken(id: first.token.id!, now: t0)
        #expect(try await database.adoptFileJoinToken(secretHash: "file1", now: t0).token.revokedAt == t0)
        let other = try await database.createJoinToken(secretHash: "made", description: "", now: t0)
        _ = try await database.revokeJoinToken(id: other.id!, now: t0)
        let unrevoked = try await database.createJoinToken(secretHash: "kept", description: "", now: t0)
        // The file made anew (rotation): the new one is recorded; the old file token stays revoked,
        // tokens made with `ferry token create` are untouched.
        let second = try await database.adoptFileJoinToken(secretHash: "file2", now: t0)
        #expect(second.recorded)
        let all = try await database.joinTokens()
        #expect(all.first { $0.secretHash == "kept" }?.revokedAt == nil)
        #expect(all.first { $0.id == unrevoked.id }?.revokedAt == nil)
        #expect(all.filter { $0.fromFile && $0.revokedAt == nil }.map(\.secretHash) == ["file2"])
    }

    @Test func removingANodeFailsItsTargetsRefusesItsCredentialAndFreesItsName() async throws {
        let database = try FerryDatabase.inMemory()
        let a = try await database.join(name: "a", address: nil, platform: "linux/amd64", credentialHash: "a1", now: t0)
        let b = try await database.join(name: "b", address: nil, platform: "linux/amd64", credentialHash: "b1", now: t0)
        let image = try await database.storePresentImage("ghcr.io/o/app:1")
        let install = try await database.createInstall(
            InstallRecord(maxParallel: 2, platform: nil, deadlineAt: nil), targets: [(a.id!, [image.id!]), (b.id!, [image.id!])])
        // Without --force: refused while it heartbeats or has unfinished targets.
        do {
            _ = try await database.removeNode(named: "a", force: false, reachableWithin: .seconds(5), now: t0)
            Issue.record("removed a reachable node without force")
        } catch let error as FerryError {
            #expect(error.code == .conflict)
            #expect(error.message.contains("is still heartbeating (a node counts as stopped 15 s after its last heartbeat)"), "\(error.message)")
            #expect(error.message.contains("--force"))
        }
        // Stopped (no heartbeat for longer than that), with a target left: stopping cannot help, --force can.
        do {
            _ = try await database.removeNode(named: "a", force: false, reachableWithin: .seconds(5), now: t0.addingTimeInterval(60))
            Issue.record("removed a node with an unfinished target without force")
        } catch let error as FerryError {
            #expect(error.message == "node 'a' has 1 unfinished install target: pass --force to fail it and remove the node, or let it finish (start the follower again)")
        }
        do {
            _ = try await database.removeNode(named: "zz", force: true, reachableWithin: .seconds(5), now: t0)
        } catch let error as FerryError {
            #expect(error.code == .notFound)
            #expect(error.message.contains("known nodes: a, b"), "\(error.message)")
        }
        let removal = try await database.removeNode(named: "a", force: true, reachableWithin: .seconds(5), now: t0)
        #expect(removal.failedTargets == 1 && removal.node.name == "a")
        let targets = try await database.targets(ofInstall: install.id!)
        let removedTarget = try #require(targets.first { $0.nodeId == a.id })
        #expect(removedTarget.state == .failed && removedTarget.errorMessage == "node removed")
        #expect(targets.first { $0.nodeId == b.id }?.state == .waiting, "other nodes' targets are untouched")
        #expect(try await database.node(credentialHash: "a1") == nil)
        #expect(try await database.nodes().map(\.name) == ["b"])
        #expect(try await database.nodeNames()[a.id!] == "a~\(a.id!)", "the history keeps it under a name no node can join with")
        // The name is free: a new machine joins as "a" with a new id; removing again is unknown.
        let again = try await database.join(name: "a", address: nil, platform: "linux/amd64", credentialHash: "a2")
        #expect(again.id != a.id)
        #expect(try await database.work(forNode: again.id!).isEmpty, "the new node inherits none of the old one's work")
        // A node that stopped (not seen for a while) and has nothing pending goes without --force.
        _ = try await database.updateTarget(id: targets.first { $0.nodeId == b.id }!.id!, nodeID: b.id!, to: .done)
        #expect(try await database.removeNode(named: "b", force: false, reachableWithin: .seconds(5), now: t0.addingTimeInterval(60)).failedTargets == 0)
    }

    @Test func aDatabaseFromBeforeJoinTokensKeepsItsNodesAndCredentials() async throws {
        // A state.db as the release before token management left it: migrated up to v2 only.
        let queue = try DatabaseQueue()
        try FerryDatabase.migrator.migrate(queue, upTo: "v2: nodes, installs, install targets")
        try await queue.write { db in
            try db.execute(
                sql: "INSERT INTO nodes (name, address, platform, credential_hash, joined_at, last_seen) VALUES ('old', NULL, 'linux/amd64', 'h-old', ?, ?)",
                arguments: [Date(), Date()])
        }
        let database = try FerryDatabase(queue)
        let node = try #require(try await database.node(credentialHash: "h-old"))
        #expect(node.name == "old" && node.removedAt == nil)
        #expect(try await database.joinTokens().isEmpty)
        #expect(try await database.adoptFileJoinToken(secretHash: "file").recorded)
        await #expect(throws: FerryError.self) { try await database.join(name: "old", address: nil, platform: "p", credentialHash: "x") }
    }
}
