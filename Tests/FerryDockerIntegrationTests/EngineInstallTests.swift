import FerryCore
import FerryDocker
import FerryTestSupport
import Foundation
import Testing

/// `DockerClient` against a real dockerd 20.10 and images pushed to a real registry, fetched
/// into a directory standing in for a follower's store.
@Suite(
    "Install into a real Docker engine", .serialized, .requiresRoot("dockerd"),
    .enabled(if: DockerEngineFixture.isInstalled, "no /usr/sbin/dockerd (run cluster/deps.sh)"), .dockerEngine)
struct EngineInstallTests {
    @Test("ping negotiates the engine's API version and reports its release")
    func ping() async throws {
        let engine = try DockerEngineFixture.shared
        let info = try await engine.client.ping()
        let cli = try await engine.docker(["version", "--format", "{{.Server.APIVersion}} {{.Server.Version}}"])
        #expect(cli.succeeded, "\(cli.stderr)")
        #expect("\(info.apiVersion) \(info.serverVersion)" == cli.stdout.trimmingWhitespace())
        #expect(info.apiVersion == "1.41")  // dockerd 20.10 caps below our 1.52
        #expect(info.os == "linux")
        #expect(info.majorVersion == 20 && !info.readsZstdLayers && !info.expectsOCILayout)
        let status = try await runChecked(RepositoryLayout.cluster("dockerd.sh"), ["status", engine.directory.sub("d")])
        #expect(status.hasPrefix("running pid ") && status.contains(" \(engine.socket) "), "\(status)")

        // A client capped lower uses its own maximum for every call.
        let older = try DockerClient(host: engine.socket, configuration: .init(maximumAPIVersion: DockerAPIVersion(1, 40)))
        defer { Task { try? await older.shutdown() } }
        #expect(try await older.ping().apiVersion == "1.40")
        #expect(try await older.inspectImage("no-such-image:1") == nil)
    }

    @Test("an image installs with its ID and tag, runs, and a second install finds it present")
    func installRunAndReinstall() async throws {
        let engine = try DockerEngineFixture.shared
        let work = try engine.workDirectory("run")
        let store = try TestStore(directory: "\(work)/store")
        try await TestImages.make("\(engine.registry.host)/demo/run:1", in: work, layers: [.init("run-a", "1M")], busybox: true)
        let image = try await store.fetch(from: engine.registry, "demo/run", "1")
        let reference = try #require(image.reference)

        // The busybox layer may be there already from another test of the suite.
        let outcome = try await engine.client.install(image, reader: store.reader)
        #expect(outcome == .loaded(omittedLayers: 0, fallback: false) || outcome == .loaded(omittedLayers: 1, fallback: false))
        let inspected = try #require(try await engine.client.inspectImage(reference))
        #expect(inspected.id == image.manifest.config.digest.description)
        #expect(inspected.repoTags == [reference])
        #expect(inspected.layers == (try image.decodedConfig().rootfs.diffIDs))
        #expect(try await engine.client.listImages().contains(inspected.id))

        let run = try await engine.docker(["run", "--rm", "--network", "none", reference])
        #expect(run.succeeded, "\(run.stderr)")
        #expect(run.stdout.trimmingWhitespace() == "ferry-image demo/run:1 ok")

        // Present: nothing is read from the store, nothing is loaded.
        _ = store.takeReads()
        #expect(try await engine.client.install(image, reader: store.reader) == .alreadyPresent)
        #expect(store.takeReads().isEmpty)

        // Present but untagged: the tag comes back without a load.
        #expect(try await engine.docker(["tag", reference, "demo/other:1"]).succeeded)
        #expect(try await engine.docker(["rmi", reference]).succeeded)
        #expect(try await engine.client.inspectImage(reference) == nil)
        #expect(try await engine.client.install(image, reader: store.reader) == .alreadyPresent)
        #expect(store.takeReads().isEmpty)
        #expect(try await engine.client.inspectImage(reference)?.id == inspected.id)
    }

    @Test("layers the engine already holds are left out of the archive and never read")
    func sharedLayersAreOmitted() async throws {
        let engine = try DockerEngineFixture.shared
        let work = try engine.workDirectory("share")
        let store = try TestStore(directory: "\(work)/store")
        let registry = engine.registry
        try await TestImages.make("\(registry.host)/demo/base:1", in: work, layers: [.init("share-base", "2M")], busybox: true)
        try await TestImages.make(
            "\(registry.host)/demo/app:2", in: work, layers: [.init("share-base", "2M"), .init("share-top", "512K")], busybox: true)
        let base = try await store.fetch(from: registry, "demo/base", "1")
        let app = try await store.fetch(from: registry, "demo/app", "2")
        #expect(Array(app.manifest.layers.prefix(2)) == base.manifest.layers)

        let first = try await engine.client.install(base, reader: store.reader)
        #expect(first == .loaded(omittedLayers: 0, fallback: false) || first == .loaded(omittedLayers: 1, fallback: false))
        _ = store.takeReads()
        #expect(try await engine.client.install(app, reader: store.reader) == .loaded(omittedLayers: 2, fallback: false))
        // Only the top layer's bytes were streamed (the config is sent from memory).
        #expect(store.takeReads() == [app.manifest.layers[2].digest])

        let reference = try #require(app.reference)
        let run = try await engine.docker(["run", "--rm", "--network", "none", reference])
        #expect(run.succeeded, "\(run.stderr)")
        #expect(run.stdout.trimmingWhitespace() == "ferry-image demo/app:2 ok")
    }

    @Test("a corrupted layer fails with the engine's message and leaves no image behind")
    func corruptedLayer() async throws {
        let engine = try DockerEngineFixture.shared
        let work = try engine.workDirectory("corrupt")
        let store = try TestStore(directory: "\(work)/store")
        try await TestImages.make("\(engine.registry.host)/demo/bad:1", in: work, layers: [.init("bad-layer", "1M")], busybox: true)
        let image = try await store.fetch(from: engine.registry, "demo/bad", "1")
        try store.corrupt(image.manifest.layers[1].digest)

        let error = try await #require(throws: FerryError.self) {
            try await engine.client.install(image, reader: store.reader)
        }
        #expect(error.code == .dockerLoadFailed)
        #expect(error.message.hasPrefix("docker load failed: "))
        // The engine's own words follow the prefix, not a generic text.
        #expect(!error.message.contains("no 'Loaded image' line"), "\(error.message)")
        #expect(try await engine.client.inspectImage(image.manifest.config.digest.description) == nil)
        #expect(try await engine.client.inspectImage(try #require(image.reference)) == nil)
    }

    @Test("a digest-only image loads untagged, under its ID")
    func untaggedImage() async throws {
        let engine = try DockerEngineFixture.shared
        let work = try engine.workDirectory("untagged")
        let store = try TestStore(directory: "\(work)/store")
        try await TestImages.make("\(engine.registry.host)/demo/untagged:1", in: work, layers: [.init("untagged", "64K")])
        let image = try await store.fetch(from: engine.registry, "demo/untagged", "1", reference: .some(nil))

        #expect(try await engine.client.install(image, reader: store.reader) == .loaded(omittedLayers: 0, fallback: false))
        let inspected = try #require(try await engine.client.inspectImage(image.manifest.config.digest.description))
        #expect(inspected.repoTags.isEmpty)
    }

    @Test("an archive that also carries an OCI layout (as for engines 25+) loads on 20.10 through manifest.json")
    func ociLayoutOn2010() async throws {
        let engine = try DockerEngineFixture.shared
        let work = try engine.workDirectory("layout")
        let store = try TestStore(directory: "\(work)/store")
        try await TestImages.make("\(engine.registry.host)/demo/layout:1", in: work, layers: [.init("layout", "256K")], busybox: true)
        let image = try await store.fetch(from: engine.registry, "demo/layout", "1")
        let archive = try DockerArchive(image: image, options: .init(includeOCILayout: true), reader: store.reader)
        #expect(archive.entries.contains { $0.path == "index.json" })
        let reference = try #require(image.reference)
        #expect(try await engine.client.load(archive) == [reference])
        #expect(try await engine.client.inspectImage(reference)?.id == image.imageID.description)
    }

    @Test("zstd layers load into 20.10 once decompressed on the way; sent as they are, the engine refuses them")
    func zstdLayers() async throws {
        let engine = try DockerEngineFixture.shared
        let work = try engine.workDirectory("zstd")
        let store = try TestStore(directory: "\(work)/store")
        try await TestImages.generate(at: "\(work)/z.tar", tag: "demo/zstd:1", layers: [.init("zstd-layer", "1M")], busybox: true)
        // A registry of its own: skopeo 1.9.3 reuses a blob the destination already has under
        // another compression (the gzip busybox layer of the other tests) instead of writing zstd.
        try await TestRegistry.with(in: "\(work)/registry") { registry in
            // skopeo 1.9.3 writes zstd layers with --dest-compress-format zstd (OCI manifests only).
            try await runChecked("/usr/bin/skopeo", [
                "--insecure-policy", "copy", "--quiet", "--dest-tls-verify=false", "--format", "oci", "--dest-compress-format", "zstd",
                "docker-archive:\(work)/z.tar", "docker://\(registry.host)/demo/zstd:1",
            ])
            let image = try await store.fetch(from: registry, "demo/zstd", "1")
            #expect(image.manifest.layers.allSatisfy { $0.mediaType == MediaType.ociLayerZstd }, "\(image.manifest.layers.map(\.mediaType))")
            try await Self.installZstd(image, store: store, engine: engine)
        }
    }

    private static func installZstd(_ image: LoadableImage, store: TestStore, engine: DockerEngineFixture) async throws {
        // As 20.10 receives them unchanged: refused (protocol notes §5).
        let raw = try DockerArchive(image: image, reader: store.reader)
        let refused = try await #require(throws: FerryError.self) { try await engine.client.load(raw) }
        #expect(refused.code == .dockerLoadFailed)

        // The zstd busybox layer has the same diff ID as the gzip one other tests load.
        let outcome = try await engine.client.install(image, reader: store.reader)
        #expect(outcome == .loaded(omittedLayers: 0, fallback: false) || outcome == .loaded(omittedLayers: 1, fallback: false))
        let reference = try #require(image.reference)
        let inspected = try #require(try await engine.client.inspectImage(reference))
        #expect(inspected.layers == (try image.decodedConfig().rootfs.diffIDs))
        let run = try await engine.docker(["run", "--rm", "--network", "none", reference])
        #expect(run.succeeded, "\(run.stderr)")
        #expect(run.stdout.trimmingWhitespace() == "ferry-image demo/zstd:1 ok")
    }
}
