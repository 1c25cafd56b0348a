import FerryState
import Testing

extension NodeIdentityDatabaseTests {
    @Test("a heartbeat without an address keeps a real one, and drops an unspecified host an earlier leader recorded")
    func heartbeatDropsAnUnspecifiedAddress() async throws {
        let database = try FerryDatabase.inMemory()
        let real = try await database.join(name: "a", address: "https://10.0.0.1:5051", platform: "linux/amd64", credentialHash: "one")
        let v4 = try await database.join(name: "b", address: "https://0.0.0.0:5051", platform: "linux/amd64", credentialHash: "two")
        let v6 = try await database.join(name: "c", address: "https://[::]:5051", platform: "linux/amd64", credentialHash: "three")
        for node in [real, v4, v6] { try await database.heartbeat(nodeID: node.id!, dockerVersion: nil, dockerError: nil, address: nil) }
        #expect(try await database.node(id: real.id!)?.address == "https://10.0.0.1:5051")
        #expect(try await database.node(id: v4.id!)?.address == nil)
        #expect(try await database.node(id: v6.id!)?.address == nil)
        try await database.heartbeat(nodeID: v4.id!, dockerVersion: nil, dockerError: nil, address: "https://10.0.0.2:5051")
        #expect(try await database.node(id: v4.id!)?.address == "https://10.0.0.2:5051")
    }
}
