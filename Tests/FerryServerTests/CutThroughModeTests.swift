import FerryCore
import FerryServer
import FerryState
import FerryStore
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Synchronization
import Testing

/// How a blob still arriving is served (`RegistryReadAPI.CutThrough`): the leader passes on what
/// arrives; a follower's peers get every byte but the last until the blob verified, so a node
/// relaying a liar's bytes never sends a whole wrong blob (docs/mesh.md, *Evidence*).
@Suite("Cut-through modes")
struct CutThroughModeTests {
    /// A blob whose bytes are all written but fail its digest, read through `mode`: the body the
    /// client got, or nil when the transfer broke off.
    static func readWrongBlob(_ mode: RegistryReadAPI.CutThrough) async throws -> [UInt8]? {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("ferry-cut-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        // A small write buffer: every byte written is durable (readable) at once.
        let store = try BlobStore(root: root, configuration: .init(reservedSpace: 0, writeBufferSize: 16, readChunkSize: 512))
        let right = (0..<3000).map { UInt8(truncatingIfNeeded: $0 &* 13) }
        var wrong = right
        wrong[2990] ^= 0xff
        let digest = Digest.sha256(of: right)
        let ingest = try await store.ingest(digest, expectedSize: Int64(wrong.count))
        try await ingest.write(ByteBuffer(bytes: wrong))
        let router = buildFerryRouter(
            verifier: AdminTokenVerifier(adminToken: ServerFixture.token),
            registry: RegistryReadAPI(database: try FerryDatabase.inMemory(), store: store, defaultRegistry: nil, cutThrough: mode), admin: nil)
        // The ingest is closed on every path (an ingest dropped open ends the process).
        let outcome: Result<[UInt8]?, any Error>
        do {
            outcome = .success(try await Self.read(digest, from: router, mode: mode, ingest: ingest))
        } catch {
            outcome = .failure(error)
        }
        await ingest.close()
        return try outcome.get()
    }

    static func read(_ digest: Digest, from router: Router<FerryRequestContext>, mode: RegistryReadAPI.CutThrough, ingest: BlobIngest) async throws -> [UInt8]? {
        try await Application(router: router).test(.router) { client in
            async let response = client.get("/v2/lib/app/blobs/\(digest)?ns=registry.test")
            // The relay finds out its source lied only at the end, as its commit does: after the
            // unverified reader had every byte, while the verified one still waits for the last.
            var body: [UInt8]?
            if mode == .unverified {
                let answer = try await response
                body = answer.status == .ok ? Array(answer.body.readableBytesView) : nil
                await #expect(throws: FerryError.self) { try await ingest.commit() }
            } else {
                try await Task.sleep(for: .milliseconds(300))
                await #expect(throws: FerryError.self) { try await ingest.commit() }
                do {
                    let answer = try await response
                    body = answer.status == .ok ? Array(answer.body.readableBytesView) : nil
                } catch {
                    body = nil
                }
            }
            return body
        }
    }

    @Test func aPeerNeverGetsTheWholeWrongBlobWhileTheLeaderPassesOnWhatArrives() async throws {
        let relayed = try await Self.readWrongBlob(.verifiedEnd)
        #expect(relayed == nil || relayed!.count < 3000, "a follower passed on a whole wrong blob")
        let passedOn = try #require(try await Self.readWrongBlob(.unverified), "the leader's readers get what arrived")
        #expect(passedOn.count == 3000)
    }

    @Test func onlyTheLoopbackRegistryWaitsForABlobThatHasNotStartedArriving() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("ferry-cut-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let store = try BlobStore(root: root)
        let digest = Digest.sha256(of: [1, 2, 3])
        store.expectArrivals("target 1", of: [Descriptor(mediaType: MediaType.ociLayerGzip, digest: digest, size: 3)])
        let router = buildFerryRouter(
            verifier: AdminTokenVerifier(adminToken: ServerFixture.token),
            registry: RegistryReadAPI(database: try FerryDatabase.inMemory(), store: store, defaultRegistry: nil, cutThrough: .verifiedEnd), admin: nil)
        try await Application(router: router).test(.router) { client in
            let response = try await client.get("/v2/lib/app/blobs/\(digest)?ns=registry.test")
            #expect(response.status == .notFound && response.errorCodes == ["BLOB_UNKNOWN"])
        }
    }

    /// The loopback registry asks its blob fallback (a follower: the mesh) for a blob it neither
    /// holds nor expects, with the request's upstream and repository, and serves what arrives; a
    /// fallback that has nothing is `404 BLOB_UNKNOWN`; the peers' registry never asks.
    @Test func theLoopbackRegistryAsksItsBlobFallbackAndServesWhatArrives() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("ferry-cut-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let store = try BlobStore(root: root)
        let bytes = (0..<5000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        let digest = Digest.sha256(of: bytes)
        let missing = Digest.sha256(of: [9])
        let asked = Mutex<[String]>([])
        let fallback: RegistryReadAPI.BlobFallback = { registry, repository, wanted in
            asked.withLock { $0.append("\(registry ?? "-") \(repository) \(wanted)") }
            guard wanted == digest else { return nil }
            store.expectArrivals("mirror", of: [Descriptor(mediaType: MediaType.ociLayerGzip, digest: digest, size: Int64(bytes.count))])
            Task {
                defer { store.endArrivals("mirror") }
                try await Task.sleep(for: .milliseconds(100))
                try await store.withIngest(digest, expectedSize: Int64(bytes.count)) { ingest in
                    try await ingest.write(ByteBuffer(bytes: bytes))
                    try await ingest.commit()
                }
            }
            return Int64(bytes.count)
        }
        func router(_ mode: RegistryReadAPI.CutThrough) throws -> Router<FerryRequestContext> {
            buildFerryRouter(
                verifier: AdminTokenVerifier(adminToken: ServerFixture.token),
                registry: RegistryReadAPI(database: try FerryDatabase.inMemory(), store: store, defaultRegistry: nil, blobFallback: fallback, cutThrough: mode),
                admin: nil)
        }
        try await Application(router: try router(.verifiedEnd)).test(.router) { client in
            let response = try await client.get("/v2/lib/app/blobs/\(digest)?ns=registry.test")
            #expect(response.status == .notFound && response.errorCodes == ["BLOB_UNKNOWN"])
        }
        #expect(asked.withLock { $0 }.isEmpty, "the peers' registry asked its fallback")
        try await Application(router: try router(.verified)).test(.router) { client in
            let unknown = try await client.get("/v2/lib/app/blobs/\(missing)?ns=registry.test")
            #expect(unknown.status == .notFound && unknown.errorCodes == ["BLOB_UNKNOWN"])
            let response = try await client.get("/v2/lib/app/blobs/\(digest)?ns=registry.test")
            #expect(response.status == .ok)
            #expect(Array(response.body.readableBytesView) == bytes)
        }
        #expect(asked.withLock { $0 } == ["registry.test lib/app \(missing)", "registry.test lib/app \(digest)"])
    }
}
