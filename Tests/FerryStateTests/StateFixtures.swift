import FerryCore
import FerryState
import Foundation
import Testing

enum StateFixtures {
    static func digest(_ character: Character) -> Digest {
        try! Digest(parsing: "sha256:" + String(repeating: character, count: 64))
    }

    static func reference(_ text: String) -> ImageReference { try! ImageReference(parsing: text) }

    static let amd64 = Platform(os: "linux", architecture: "amd64")
    static let arm64 = Platform(os: "linux", architecture: "arm64")

    static let config = Descriptor(mediaType: MediaType.dockerConfig, digest: digest("c"), size: 100)
    static let layer1 = Descriptor(mediaType: MediaType.dockerLayerGzip, digest: digest("1"), size: 1000)
    static let layer2 = Descriptor(mediaType: MediaType.dockerLayerGzip, digest: digest("2"), size: 2000)

    static func manifest(_ character: Character, type: String = MediaType.dockerManifest) -> ManifestRecord {
        ManifestRecord(digest: digest(character), mediaType: type, bytes: Array("{\"m\":\"\(character)\"}".utf8))
    }

    /// A resolution with an index on top (`top`) pointing at an image manifest (`image`).
    static func resolution(top: Character = "a", image: Character = "b", blobs: [Descriptor] = [config, layer1, layer2]) -> ImageResolution {
        ImageResolution(
            topDigest: digest(top), manifestDigest: digest(image), platform: amd64,
            manifests: [manifest(top, type: MediaType.dockerManifestList), manifest(image)], blobs: blobs)
    }
}

extension FerryDatabase {
    /// Requests, resolves and completes an image: the path to a tag the /v2/ API serves.
    @discardableResult
    func storePresentImage(_ reference: String, platform: Platform = StateFixtures.amd64, top: Character = "a", image: Character = "b")
        async throws -> ImageRecord
    {
        let record = try await requestImage(StateFixtures.reference(reference), platform: platform)
        let id = try #require(record.id)
        let resolution = StateFixtures.resolution(top: top, image: image)
        try await recordResolution(imageID: id, resolution)
        for blob in resolution.blobs { try await setBlobState(blob.digest, .present) }
        guard try await markImagePresent(imageID: id) else { throw TestFailure("image \(reference) did not become present") }
        return try #require(try await self.image(id: id))
    }
}

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

func withTemporaryDirectory<T>(_ body: (String) async throws -> T) async throws -> T {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("ferry-state-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: path) }
    return try await body(path)
}
