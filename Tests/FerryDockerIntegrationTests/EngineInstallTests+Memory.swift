import FerryCore
import FerryDocker
import FerryTestSupport
import Foundation
import Testing

extension EngineInstallTests {
    /// `VmHWM` (peak resident set) and `VmRSS` of this process, in bytes.
    static func memory() throws -> (peak: Int, resident: Int) {
        let status = try String(contentsOfFile: "/proc/self/status", encoding: .utf8)
        func field(_ name: String) -> Int {
            guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix(name + ":") }) else { return 0 }
            return (Int(line.split(separator: " ").dropFirst().first ?? "0") ?? 0) * 1024
        }
        return (field("VmHWM"), field("VmRSS"))
    }

    /// Builds a store straight from a `gen-image.sh` archive: uncompressed OCI layers (no
    /// registry round trip, so a big image is quick to set up).
    static func storeFromArchive(_ archive: String, in directory: String, reference: String) async throws -> (TestStore, LoadableImage) {
        let unpacked = "\(directory)/unpacked"
        try FileManager.default.createDirectory(atPath: unpacked, withIntermediateDirectories: true)
        try await runChecked("/usr/bin/tar", ["-xf", archive, "-C", unpacked])
        struct Entry: Decodable {
            var Config: String
            var Layers: [String]
        }
        let manifestJSON = try Data(contentsOf: URL(fileURLWithPath: "\(unpacked)/manifest.json"))
        let entry = try #require(try JSONDecoder().decode([Entry].self, from: manifestJSON).first)
        let store = try TestStore(directory: "\(directory)/store")
        let config = try [UInt8](Data(contentsOf: URL(fileURLWithPath: "\(unpacked)/\(entry.Config)")))
        var layers: [Descriptor] = []
        for path in entry.Layers {
            // gen-image names each layer directory after its sha256, which is also its diff ID.
            let digest = try Digest(parsing: "sha256:" + path.split(separator: "/")[0])
            try FileManager.default.moveItem(atPath: "\(unpacked)/\(path)", toPath: store.path(digest))
            let size = try FileManager.default.attributesOfItem(atPath: store.path(digest))[.size] as? Int ?? 0
            layers.append(Descriptor(mediaType: MediaType.ociLayer, digest: digest, size: Int64(size)))
        }
        let configDescriptor = Descriptor(mediaType: MediaType.ociConfig, digest: Digest.sha256(of: config), size: Int64(config.count))
        let manifest = ImageManifest(mediaType: MediaType.ociManifest, config: configDescriptor, layers: layers)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let manifestBytes = try [UInt8](encoder.encode(manifest))
        let image = LoadableImage(
            reference: reference, manifest: manifest, manifestBytes: manifestBytes, manifestDigest: Digest.sha256(of: manifestBytes), config: config)
        return (store, image)
    }

    @Test("loading a 256 MiB image keeps this process's memory flat (peak RSS well below the image size)")
    func memoryStaysFlat() async throws {
        let engine = try DockerEngineFixture.shared
        let work = try engine.workDirectory("memory")
        // FERRY_DOCKER_MEMORY_MIB changes the size, to check that the peak does not follow it.
        let mebibytes = ProcessInfo.processInfo.environment["FERRY_DOCKER_MEMORY_MIB"].flatMap { Int($0) } ?? 256
        let imageSize = mebibytes * 1024 * 1024
        try await TestImages.generate(
            at: "\(work)/big.tar", tag: "demo/big:1", layers: [.init("memory-big", "\(mebibytes)M")], busybox: true)
        let (store, image) = try await Self.storeFromArchive("\(work)/big.tar", in: work, reference: "demo/big:1")
        try FileManager.default.removeItem(atPath: "\(work)/big.tar")
        #expect(image.manifest.layers.reduce(0) { $0 + $1.size } > Int64(imageSize))

        // Reset the peak to the current RSS, so VmHWM covers the load only.
        try "5".write(toFile: "/proc/self/clear_refs", atomically: false, encoding: .utf8)
        let before = try Self.memory()
        let started = ContinuousClock.now
        let outcome = try await engine.client.install(image, reader: store.reader)
        let elapsed = ContinuousClock.now - started
        let after = try Self.memory()
        #expect(outcome == .loaded(omittedLayers: 0, fallback: false) || outcome == .loaded(omittedLayers: 1, fallback: false))
        let growth = after.peak - before.resident
        print(
            "FerryDocker memory: RSS before \(before.resident >> 20) MiB, peak during a \(imageSize >> 20) MiB load "
                + "\(after.peak >> 20) MiB (+\(growth >> 20) MiB), \(elapsed)")
        // Proportional buffering would add at least the image size; streaming adds a few chunks.
        // The bound is half the image, not a few MiB, because RSS is the whole test process's and
        // other suites run beside this one (CI saw +64 MiB from them on a 256 MiB load).
        #expect(growth < imageSize / 2, "peak RSS grew by \(growth >> 20) MiB while loading \(imageSize >> 20) MiB")
        let run = try await engine.docker(["run", "--rm", "--network", "none", "demo/big:1"])
        #expect(run.stdout.trimmingWhitespace() == "ferry-image demo/big:1 ok", "\(run.stderr)")
    }
}
