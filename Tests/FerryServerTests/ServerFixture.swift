import FerryCore
import FerryMesh
import FerryServer
import FerryState
import FerryStore
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

/// A Ferry router over an in-memory database and a temporary store, seeded with one
/// multi-platform image (an OCI index over one OCI manifest) under several tags.
struct ServerFixture: Sendable {
    static let token = "test-admin-token-\(UUID().uuidString)"
    static let repository = "lib/app"
    static let tags = ["v1", "v2", "latest", "1.0", "a"]

    let database: FerryDatabase
    let store: BlobStore

    let config: [UInt8] = Array(#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#.utf8)
    let layer: [UInt8] = (0..<1000).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 3) }
    var configDigest: Digest { Digest.sha256(of: config) }
    var layerDigest: Digest { Digest.sha256(of: layer) }

    var manifest: [UInt8] {
        Array(
            """
            {"schemaVersion":2,"mediaType":"\(MediaType.ociManifest)",\
            "config":{"mediaType":"\(MediaType.ociConfig)","digest":"\(configDigest)","size":\(config.count)},\
            "layers":[{"mediaType":"\(MediaType.ociLayerGzip)","digest":"\(layerDigest)","size":\(layer.count)}]}
            """.utf8)
    }
    var manifestDigest: Digest { Digest.sha256(of: manifest) }

    var index: [UInt8] {
        Array(
            """
            {"schemaVersion":2,"mediaType":"\(MediaType.ociIndex)","manifests":[{"mediaType":"\(MediaType.ociManifest)",\
            "digest":"\(manifestDigest)","size":\(manifest.count),"platform":{"architecture":"amd64","os":"linux"}}]}
            """.utf8)
    }
    var indexDigest: Digest { Digest.sha256(of: index) }

    /// Stores the blobs and records `reference` as present.
    func seed(_ reference: String) async throws {
        try await store.write(config, as: configDigest)
        try await store.write(layer, as: layerDigest)
        let record = try await database.requestImage(try ImageReference(parsing: reference), platform: Platform(os: "linux", architecture: "amd64"))
        let id = try #require(record.id)
        let blobs = [
            Descriptor(mediaType: MediaType.ociConfig, digest: configDigest, size: Int64(config.count)),
            Descriptor(mediaType: MediaType.ociLayerGzip, digest: layerDigest, size: Int64(layer.count)),
        ]
        try await database.recordResolution(
            imageID: id,
            ImageResolution(
                topDigest: indexDigest, manifestDigest: manifestDigest, platform: Platform(os: "linux", architecture: "amd64"),
                manifests: [
                    ManifestRecord(digest: indexDigest, mediaType: MediaType.ociIndex, bytes: index),
                    ManifestRecord(digest: manifestDigest, mediaType: MediaType.ociManifest, bytes: manifest),
                ],
                blobs: blobs))
        for blob in blobs { try await database.setBlobState(blob.digest, .present) }
        guard try await database.markImagePresent(imageID: id) else { throw FixtureError("\(reference) did not become present") }
    }

    static let authorization: HTTPFields = [.authorization: "Bearer \(token)"]

    /// Runs `body` against the router, in process.
    static func withServer(
        defaultRegistry: String? = "registry.test", manifestFallback: RegistryReadAPI.ManifestFallback? = nil,
        _ body: @Sendable (ServerFixture, any TestClientProtocol) async throws -> Void
    ) async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("ferry-server-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let fixture = ServerFixture(database: try FerryDatabase.inMemory(), store: try BlobStore(root: root))
        for tag in tags { try await fixture.seed("registry.test/\(repository):\(tag)") }
        try await fixture.seed("docker.io/library/alpine:3")
        try await fixture.seed("docker.io/bitnami/redis:7")

        let router = buildFerryRouter(
            verifier: AdminTokenVerifier(adminToken: token),
            registry: RegistryReadAPI(database: fixture.database, store: fixture.store, defaultRegistry: defaultRegistry, manifestFallback: manifestFallback),
            admin: nil)
        let app = Application(router: router)
        try await app.test(.router) { client in try await body(fixture, client) }
    }
}

struct FixtureError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

extension HTTPField.Name {
    static let dockerContentDigest = HTTPField.Name("Docker-Content-Digest")!
    static let dockerAPIVersion = HTTPField.Name("Docker-Distribution-Api-Version")!
    static let link = HTTPField.Name("Link")!
}

extension TestResponse {
    /// The registry error codes of a JSON error body.
    var errorCodes: [String] {
        guard let decoded = try? JSONDecoder().decode(ErrorResponse.self, from: Data(body.readableBytesView)) else { return [] }
        return decoded.errors.map(\.code)
    }

    var bytes: [UInt8] { Array(body.readableBytesView) }
}

extension TestClientProtocol {
    /// An authenticated request.
    @discardableResult
    func get(_ uri: String, method: HTTPRequest.Method = .get, headers: HTTPFields = [:]) async throws -> TestResponse {
        var all = ServerFixture.authorization
        all.append(contentsOf: headers)
        return try await execute(uri: uri, method: method, headers: all) { $0 }
    }
}
