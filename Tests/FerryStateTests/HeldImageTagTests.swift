import FerryCore
import Testing

@testable import FerryState

/// A follower's held images are served by tag from its own `/v2/` (the node's containerd mirror).
@Suite("Held image tags")
struct HeldImageTagTests {
    typealias F = StateFixtures

    @Test func aHeldImageResolvesByTagToItsManifest() async throws {
        let database = try FerryDatabase.inMemory()
        #expect(try await database.servedRegistries().isEmpty)
        let manifest = F.manifest("d")
        try await database.recordHeldImage(
            F.reference("registry.example.com/team/app:1"), platform: F.amd64, manifest: manifest, blobs: [F.config, F.layer1])
        #expect(try await database.digest(registry: "registry.example.com", repository: "team/app", tag: "1") == manifest.digest)
        #expect(try await database.tags(registry: "registry.example.com", repository: "team/app") == ["1"])
        #expect(try await database.digest(registry: "registry.example.com", repository: "team/app", tag: "2") == nil)
        try await database.recordHeldImage(F.reference("alpine:3"), platform: F.amd64, manifest: F.manifest("e"), blobs: [F.config])
        #expect(try await database.servedRegistries() == ["docker.io", "registry.example.com"])
    }
}
