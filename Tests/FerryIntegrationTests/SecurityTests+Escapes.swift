import FerryCore
import FerryMesh
import FerryTestSupport
import Foundation
import Testing

extension SecurityTests {
    @Test("A heartbeat with escape sequences and a forged row: `ferry nodes` prints one line per node and no ESC byte; the leader keeps it bounded")
    func escapesInHeartbeats() async throws {
        try await TestCluster.with("secesc", nodes: ["n1"], engines: []) { cluster in
            let liar = try await MaliciousNode.join(cluster, name: "mallory")
            let fakeRow = "n9     https://10.0.0.9:5051  0s ago     reachable  27.0.0  -  demo/app:1"
            let forged = "\u{1B}[2J\u{1B}[H\u{9B}31mboom\n" + fakeRow + "\r\n" + String(repeating: "x", count: 5000)
            for heartbeat in [
                Heartbeat(dockerVersion: nil, dockerError: forged, address: nil),
                Heartbeat(dockerVersion: "27.0.0\u{1B}]0;owned\u{7}\n" + fakeRow, dockerError: nil, address: nil),
            ] {
                _ = try await liar.mesh.heartbeat(heartbeat)
                let listing = try await cluster.ferry(["nodes"])
                #expect(listing.status == 0, "\(listing.stderr)")
                let lines = listing.stdout.split(separator: "\n", omittingEmptySubsequences: false)
                #expect(lines.count == 4 && lines.last == "", "a header, n1, mallory:\n\(listing.stdout)")
                #expect(!listing.stdout.utf8.contains(0x1B) && !listing.stdout.utf8.contains(0x07) && !listing.stdout.contains("\r"))
                #expect(!listing.stdout.unicodeScalars.contains { $0.value == 0x9B })
                #expect(lines.contains { $0.hasPrefix("mallory") && $0.contains("\\x1b") }, "\(listing.stdout)")
                #expect(!lines.contains { $0.hasPrefix("n9") })
            }
            // What the leader stored is bounded and holds no control character.
            _ = try await liar.mesh.heartbeat(Heartbeat(dockerVersion: nil, dockerError: forged, address: nil))
            let stored = try #require(try await cluster.admin.nodes().nodes.first { $0.name == "mallory" }?.dockerError)
            #expect(stored.unicodeScalars.count <= Heartbeat.maxDockerErrorLength)
            #expect(!stored.unicodeScalars.contains { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) })
        }
    }
}
