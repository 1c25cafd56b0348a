import FerryCore
import FerryPolicy
import Testing

@Suite("Mesh protocol versions")
struct MeshProtocolCompatibilityTests {
    let rules = MeshProtocolCompatibility(leader: 5, leaderRelease: "0.5.0")

    @Test("The leader's version and the one before are accepted")
    func accepted() {
        #expect(rules.refusal(nodeVersion: 5) == nil)
        #expect(rules.refusal(nodeVersion: 4) == nil)
    }

    @Test("An older node is told to upgrade itself, naming both versions")
    func older() throws {
        let refusal = try #require(rules.refusal(nodeVersion: 3))
        #expect(refusal.code == .protocolVersion)
        #expect(refusal.message.contains("this node speaks mesh protocol 3"))
        #expect(refusal.message.contains("speaks mesh protocol 5 and accepts 4 to 5"))
        #expect(refusal.message.contains("upgrade ferry on this node to 0.5.0"))
        #expect(!refusal.message.contains("\n"))
    }

    @Test("A newer node is told to upgrade the leader first")
    func newer() throws {
        let refusal = try #require(rules.refusal(nodeVersion: 6))
        #expect(refusal.code == .protocolVersion)
        #expect(refusal.message.contains("this node speaks mesh protocol 6"))
        #expect(refusal.message.contains("upgrade the leader first"))
    }

    @Test("A node sending no version speaks Ferry 0.1.0's protocol 1: accepted by this release, refused two versions on")
    func unversioned() {
        #expect(FerryVersion.meshProtocol == 2 && FerryVersion.unversionedMeshProtocol == 1)
        #expect(MeshProtocolCompatibility().refusal(nodeVersion: nil) == nil)
        #expect(MeshProtocolCompatibility(leader: 3, leaderRelease: "0.3.0").refusal(nodeVersion: nil)?.code == .protocolVersion)
    }
}
