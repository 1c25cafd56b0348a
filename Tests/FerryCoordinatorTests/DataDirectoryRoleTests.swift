import FerryCore
import FerryTestSupport
import Foundation
import Testing

@testable import FerryCoordinator

/// A data directory given to the wrong daemon, or holding a cluster without its database or
/// with half a CA, is refused before anything in it changes (an operator's copy-paste of
/// `--data-dir` used to hand a leader's CA and certificates to a follower, or the reverse).
@Suite("Data directory roles")
struct DataDirectoryRoleTests {
    private static func directory(_ dir: TemporaryDirectory, holding files: [String: String]) throws -> DataDirectory {
        let data = try DataDirectory(dir.sub("data"))
        for (name, text) in files { try text.write(toFile: "\(data.path)/\(name)", atomically: true, encoding: .utf8) }
        return data
    }

    @Test("each role refuses the other's directory and the proxy's; a new one is anyone's")
    func rolesAreKept() async throws {
        try await withTemporaryDirectory("role") { dir in
            let fresh = try Self.directory(dir, holding: [:])
            try DataDirectory.refuseOtherRole(at: fresh.path, role: .leader)
            try DataDirectory.refuseOtherRole(at: fresh.path, role: .follower)
        }
        try await withTemporaryDirectory("role") { dir in
            let follower = try Self.directory(dir, holding: ["node.json": "{}"])
            #expect(throws: FerryError.self) { try DataDirectory.refuseOtherRole(at: follower.path, role: .leader) }
            try DataDirectory.refuseOtherRole(at: follower.path, role: .follower)
        }
        try await withTemporaryDirectory("role") { dir in
            let leader = try Self.directory(dir, holding: ["admin-token": "t", "state.db": "x"])
            do {
                try DataDirectory.refuseOtherRole(at: leader.path, role: .follower)
                Issue.record("a follower took a leader's directory")
            } catch let error as FerryError {
                #expect(error.message.contains("is a leader's data directory (it holds admin-token)"), "\(error.message)")
            }
            try DataDirectory.refuseOtherRole(at: leader.path, role: .leader)
        }
        try await withTemporaryDirectory("role") { dir in
            // The proxy writes an admin-token too: named as the proxy's, not a leader's.
            let proxy = try Self.directory(dir, holding: ["proxy.sqlite": "x", "admin-token": "t"])
            for role in [DataDirectory.Role.leader, .follower] {
                do {
                    try DataDirectory.refuseOtherRole(at: proxy.path, role: role)
                    Issue.record("the \(role) took the proxy's directory")
                } catch let error as FerryError {
                    #expect(error.message.contains("is ferry proxy's data directory (it holds proxy.sqlite)"), "\(error.message)")
                }
            }
        }
    }

    @Test("ferry proxy refuses a leader's and a follower's directory, and keeps its own (it writes an admin-token too)")
    func proxyKeepsToItsOwn() async throws {
        try await withTemporaryDirectory("role") { dir in
            let leader = try Self.directory(dir, holding: ["peer-key": "k", "admin-token": "t"])
            #expect(throws: FerryError.self) { try DataDirectoryRole.refuseOther(at: leader.path, role: .proxy) }
            try "{}".write(toFile: dir.sub("node.json"), atomically: true, encoding: .utf8)
            #expect(throws: FerryError.self) { try DataDirectoryRole.refuseOther(at: dir.path, role: .proxy) }
        }
        try await withTemporaryDirectory("role") { dir in
            let proxy = try Self.directory(dir, holding: ["proxy.sqlite": "x", "token-key": "k", "admin-token": "t"])
            try DataDirectoryRole.refuseOther(at: proxy.path, role: .proxy)
        }
    }

    @Test("CA files that cannot be read (links to nothing), or a peer key without a CA, are refused: never a new CA over a cluster")
    func unreadableOrMissingCA() async throws {
        try await withTemporaryDirectory("role") { dir in
            let data = try Self.directory(dir, holding: ["peer-key": "k", "admin-token": "t", "state.db": "x"])
            // Lost: the leader ran (its peer key is there) but the CA is gone.
            #expect(throws: FerryError.self) { try DataDirectory.refuseOtherRole(at: data.path, role: .leader) }
            // A secrets mount not there yet: links to nothing.
            for name in ["ca.pem", "ca-key.pem"] { try FileManager.default.createSymbolicLink(atPath: "\(data.path)/\(name)", withDestinationPath: dir.sub("absent/\(name)")) }
            do {
                try DataDirectory.refuseOtherRole(at: data.path, role: .leader)
                Issue.record("a leader took CA links to nothing for no CA")
            } catch let error as FerryError {
                #expect(error.message.contains("cannot read the cluster CA's ca.pem"), "\(error.message)")
            }
        }
    }

    @Test("a directory holding a cluster's CA without its database (missing or empty) is refused to the leader")
    func clusterWithoutDatabase() async throws {
        for database: String? in [nil, ""] {
            try await withTemporaryDirectory("role") { dir in
                let data = try DataDirectory(dir.sub("data"))
                _ = try ClusterCA.loadOrCreate(in: data)
                if let database { try database.write(toFile: data.databasePath, atomically: true, encoding: .utf8) }
                do {
                    try DataDirectory.refuseOtherRole(at: data.path, role: .leader)
                    Issue.record("a leader started a new cluster under an old CA")
                } catch let error as FerryError {
                    #expect(error.message.contains("holds a cluster (its CA) but") && error.message.contains("ferry leader restore"), "\(error.message)")
                }
            }
        }
    }

    @Test("half a CA, or a CA and a key from different clusters, is refused, never replaced")
    func incompleteOrMismatchedCA() async throws {
        try await withTemporaryDirectory("ca") { dir in
            let data = try DataDirectory(dir.sub("one"))
            _ = try ClusterCA.loadOrCreate(in: data)
            let other = try DataDirectory(dir.sub("two"))
            _ = try ClusterCA.loadOrCreate(in: other)
            // Another cluster's key beside this CA.
            try FileManager.default.removeItem(atPath: data.caKeyPath)
            try FileManager.default.copyItem(atPath: other.caKeyPath, toPath: data.caKeyPath)
            let mismatched = #expect(throws: FerryError.self) { try ClusterCA.loadOrCreate(in: data) }
            #expect(mismatched?.message.contains("does not match its key") == true)
            // Refused before the leader writes anything (its database, its admin token).
            #expect(throws: FerryError.self) { try DataDirectory.refuseOtherRole(at: data.path, role: .leader) }
            // The key gone: refused, and ca.pem left as it was.
            let certificate = try String(contentsOfFile: data.caCertificatePath, encoding: .utf8)
            try FileManager.default.removeItem(atPath: data.caKeyPath)
            let incomplete = #expect(throws: FerryError.self) { try ClusterCA.loadOrCreate(in: data) }
            #expect(incomplete?.message.contains("ca-key.pem is missing") == true)
            #expect(try String(contentsOfFile: data.caCertificatePath, encoding: .utf8) == certificate)
            #expect(!FileManager.default.fileExists(atPath: data.caKeyPath))
        }
    }
}
