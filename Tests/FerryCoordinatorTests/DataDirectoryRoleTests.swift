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
            try fresh.claim(as: .leader)
            try fresh.claim(as: .follower)
        }
        try await withTemporaryDirectory("role") { dir in
            let follower = try Self.directory(dir, holding: ["node.json": "{}"])
            #expect(throws: FerryError.self) { try follower.claim(as: .leader) }
            try follower.claim(as: .follower)
        }
        try await withTemporaryDirectory("role") { dir in
            let leader = try Self.directory(dir, holding: ["ca-key.pem": "k", "admin-token": "t", "state.db": "x"])
            do {
                try leader.claim(as: .follower)
                Issue.record("a follower took a leader's directory")
            } catch let error as FerryError {
                #expect(error.message.contains("is a leader's data directory (it holds ca-key.pem)"), "\(error.message)")
            }
            try leader.claim(as: .leader)
        }
        try await withTemporaryDirectory("role") { dir in
            let proxy = try Self.directory(dir, holding: ["proxy.sqlite": "x"])
            #expect(throws: FerryError.self) { try proxy.claim(as: .leader) }
            #expect(throws: FerryError.self) { try proxy.claim(as: .follower) }
        }
    }

    @Test("a directory holding a cluster's CA without its database (missing or empty) is refused to the leader")
    func clusterWithoutDatabase() async throws {
        for database: String? in [nil, ""] {
            try await withTemporaryDirectory("role") { dir in
                var files = ["ca-key.pem": "k", "ca.pem": "c", "admin-token": "t"]
                if let database { files["state.db"] = database }
                let data = try Self.directory(dir, holding: files)
                do {
                    try data.claim(as: .leader)
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
