import FerryCore
import FerryDocker
import FerryTestSupport
import Foundation
import Testing

/// The pull handoff (`installByPull`) against a real dockerd, the real registry standing in for
/// the follower's loopback registry (`127.0.0.1:PORT`, insecure for the engine by default).
extension EngineInstallTests {
    @Test("the engine pulls the image by digest, it lands under its original name with its ID, and the loopback name is gone")
    func installByPull() async throws {
        let engine = try DockerEngineFixture.shared
        let work = try engine.workDirectory("pull")
        let store = try TestStore(directory: "\(work)/store")
        try await TestImages.make("\(engine.registry.host)/demo/pulled:1", in: work, layers: [.init("pull-a", "1M"), .init("pull-b", "256K")], busybox: true)
        let reference = "registry.example.com/demo/pulled:1"
        let image = try await store.fetch(from: engine.registry, "demo/pulled", "1", reference: .some(reference))
        let local = DockerClient.LocalRegistry(address: engine.registry.host, repository: "demo/pulled", auth: nil)

        #expect(try await engine.client.installByPull(image, from: local) == .loaded(omittedLayers: 0, fallback: false))
        let inspected = try #require(try await engine.client.inspectImage(reference))
        #expect(inspected.id == image.manifest.config.digest.description)
        #expect(inspected.repoTags == [reference])
        let digests = try await engine.docker(["image", "inspect", "--format", "{{json .RepoDigests}}", reference])
        #expect(!digests.stdout.contains(engine.registry.host), "the loopback name stays: \(digests.stdout)")
        let run = try await engine.docker(["run", "--rm", "--network", "none", reference])
        #expect(run.stdout.trimmingWhitespace() == "ferry-image demo/pulled:1 ok", "\(run.stderr)")
        // Present: only the tag is checked.
        #expect(try await engine.client.installByPull(image, from: local) == .alreadyPresent)
    }

    @Test("a blob that does not match its digest fails the pull and leaves no image")
    func corruptBlobFailsThePull() async throws {
        let engine = try DockerEngineFixture.shared
        let work = try engine.workDirectory("pullbad")
        let store = try TestStore(directory: "\(work)/store")
        try await TestImages.make("\(engine.registry.host)/demo/pullbad:1", in: work, layers: [.init("pullbad-a", "512K")], busybox: false)
        let reference = "registry.example.com/demo/pullbad:1"
        let image = try await store.fetch(from: engine.registry, "demo/pullbad", "1", reference: .some(reference))
        // One byte flipped in the registry's copy of the layer: the engine receives it whole.
        let layer = try #require(image.manifest.layers.last).digest
        let path = "\(engine.registry.directory)/data/docker/registry/v2/blobs/sha256/\(layer.encoded.prefix(2))/\(layer.encoded)/data"
        var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        bytes[bytes.count / 2] ^= 0xff
        try bytes.write(to: URL(fileURLWithPath: path))

        let local = DockerClient.LocalRegistry(address: engine.registry.host, repository: "demo/pullbad", auth: nil)
        let error = await #expect(throws: FerryError.self) { try await engine.client.installByPull(image, from: local) }
        #expect(error?.code == .dockerLoadFailed, "\(String(describing: error))")
        #expect(try await engine.client.inspectImage(image.imageID.description) == nil)
        #expect(try await engine.client.inspectImage(reference) == nil)
        let names = try await engine.docker(["image", "ls", "--digests", "--format", "{{.Repository}}"])
        #expect(!names.stdout.contains("demo/pullbad"), "\(names.stdout)")
    }
}
