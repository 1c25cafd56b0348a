import FerryCore
import Foundation
import Testing

/// JSON bodies for manifest tests.
enum ManifestFixtures {
    static let configDigest = "sha256:" + String(repeating: "c", count: 64)
    static let layerDigest = "sha256:" + String(repeating: "1", count: 64)
    static let childDigest = "sha256:" + String(repeating: "d", count: 64)

    static func image(mediaType: String?, configType: String = MediaType.dockerConfig, artifactType: String? = nil) -> [UInt8] {
        var fields = [#""schemaVersion": 2"#]
        if let mediaType { fields.append(#""mediaType": "\#(mediaType)""#) }
        if let artifactType { fields.append(#""artifactType": "\#(artifactType)""#) }
        fields.append(#""config": {"mediaType": "\#(configType)", "digest": "\#(configDigest)", "size": 1470}"#)
        fields.append(#""layers": [{"mediaType": "\#(MediaType.dockerLayerGzip)", "digest": "\#(layerDigest)", "size": 3000000}]"#)
        return Array("{\(fields.joined(separator: ", "))}".utf8)
    }

    static func index(mediaType: String?) -> [UInt8] {
        var fields = [#""schemaVersion": 2"#]
        if let mediaType { fields.append(#""mediaType": "\#(mediaType)""#) }
        fields.append(
            #""manifests": [{"mediaType": "\#(MediaType.ociManifest)", "digest": "\#(childDigest)", "size": 500, "platform": {"os": "linux", "architecture": "amd64"}}]"#
        )
        return Array("{\(fields.joined(separator: ", "))}".utf8)
    }

    static let schema1: [UInt8] = Array(
        #"{"schemaVersion": 1, "name": "a/b", "tag": "1", "architecture": "amd64", "fsLayers": [{"blobSum": "sha256:aa"}], "history": []}"#.utf8)
}

@Suite("ParsedManifest.decode")
struct ManifestDecodeTests {
    typealias F = ManifestFixtures

    static func code(_ body: [UInt8], _ contentType: String?) -> FerryError.Code? {
        do {
            _ = try ParsedManifest.decode(body, contentType: contentType)
            return nil
        } catch {
            return error.code
        }
    }

    @Test(arguments: [MediaType.dockerManifest, MediaType.ociManifest])
    func imageManifests(_ type: String) throws {
        let parsed = try ParsedManifest.decode(F.image(mediaType: type), contentType: type)
        guard case .image(let manifest, let mediaType) = parsed else {
            Issue.record("expected an image manifest, got \(parsed)")
            return
        }
        #expect(mediaType == type)
        #expect(parsed.mediaType == type)
        #expect(manifest.config.digest.description == F.configDigest)
        #expect(manifest.layers.map(\.size) == [3_000_000])
        #expect(manifest.blobs.map(\.digest.description) == [F.configDigest, F.layerDigest])
        #expect(manifest.isImage)
    }

    @Test(arguments: [MediaType.dockerManifestList, MediaType.ociIndex])
    func indexes(_ type: String) throws {
        let parsed = try ParsedManifest.decode(F.index(mediaType: type), contentType: type)
        guard case .index(let index, let mediaType) = parsed else {
            Issue.record("expected an index, got \(parsed)")
            return
        }
        #expect(mediaType == type)
        #expect(index.manifests.count == 1)
        #expect(index.manifests[0].platform == Platform(os: "linux", architecture: "amd64"))
    }

    @Test func contentTypeParametersAndCaseAreIgnored() throws {
        let parsed = try ParsedManifest.decode(
            F.image(mediaType: MediaType.ociManifest), contentType: "Application/VND.oci.image.manifest.v1+json; charset=utf-8")
        #expect(parsed.mediaType == MediaType.ociManifest)
    }

    @Test func bodyTypeDecidesWhenTheHeaderIsMissingOrGeneric() throws {
        #expect(try ParsedManifest.decode(F.image(mediaType: MediaType.dockerManifest), contentType: nil).mediaType == MediaType.dockerManifest)
        #expect(try ParsedManifest.decode(F.index(mediaType: MediaType.dockerManifestList), contentType: "application/json").mediaType == MediaType.dockerManifestList)
    }

    @Test func headerTypeDecidesWhenTheBodyHasNone() throws {
        #expect(try ParsedManifest.decode(F.image(mediaType: nil), contentType: MediaType.dockerManifest).mediaType == MediaType.dockerManifest)
    }

    @Test func shapeDecidesWhenNeitherSays() throws {
        #expect(try ParsedManifest.decode(F.image(mediaType: nil), contentType: nil).mediaType == MediaType.ociManifest)
        #expect(try ParsedManifest.decode(F.index(mediaType: nil), contentType: "application/json").mediaType == MediaType.ociIndex)
    }

    static let schema1ContentTypes: [String?] = [MediaType.dockerSchema1, MediaType.dockerSchema1Signed, "application/json", nil]

    @Test("schema 1 is refused whatever the Content-Type", arguments: schema1ContentTypes)
    func schema1ByBody(_ contentType: String?) {
        #expect(Self.code(F.schema1, contentType) == .unsupportedManifest)
    }

    @Test func schema1ByContentTypeIsRefusedBeforeAnythingElse() {
        // Even a body that says it is schema 2, or is not JSON at all, is refused as schema 1 when
        // the registry labels it so: the user must see "schema 1", never a digest or parse error.
        #expect(Self.code(F.image(mediaType: MediaType.dockerManifest), MediaType.dockerSchema1Signed) == .unsupportedManifest)
        #expect(Self.code(Array(#"{"schemaVersion": 1}"#.utf8), MediaType.dockerManifest) == .unsupportedManifest)
        #expect(Self.code(Array("not json".utf8), MediaType.dockerSchema1Signed) == .unsupportedManifest)
        #expect(Self.code(Array(#"{"schemaVersion": 1, "mediaType": 5}"#.utf8), nil) == .unsupportedManifest)
    }

    @Test func schema1MessageSaysWhatToDo() throws {
        do {
            _ = try ParsedManifest.decode(F.schema1, contentType: MediaType.dockerSchema1Signed)
            Issue.record("schema 1 accepted")
        } catch {
            #expect(error.message.contains("schema 1"))
            #expect(error.message.contains("re-push"))
        }
    }

    @Test func bodyTypeDisagreeingWithContentTypeIsInvalid() {
        #expect(Self.code(F.image(mediaType: MediaType.ociManifest), MediaType.dockerManifest) == .manifestInvalid)
        #expect(Self.code(F.index(mediaType: MediaType.ociIndex), MediaType.ociManifest) == .manifestInvalid)
    }

    @Test func overFourMiBIsTooLarge() {
        let padding = String(repeating: " ", count: ParsedManifest.maximumSize)
        let body = Array("{\"schemaVersion\": 2,\(padding)\"mediaType\": \"\(MediaType.ociManifest)\"}".utf8)
        #expect(Self.code(body, MediaType.ociManifest) == .manifestTooLarge)
    }

    @Test func exactlyFourMiBIsAccepted() throws {
        var body = F.image(mediaType: MediaType.ociManifest)
        body.removeLast()  // the closing brace
        body += Array(repeating: UInt8(ascii: " "), count: ParsedManifest.maximumSize - body.count - 1)
        body.append(UInt8(ascii: "}"))
        #expect(body.count == ParsedManifest.maximumSize)
        #expect(try ParsedManifest.decode(body, contentType: MediaType.ociManifest).mediaType == MediaType.ociManifest)
    }

    @Test func unknownTypesAreUnsupported() {
        #expect(Self.code(Array(#"{"schemaVersion": 2, "mediaType": "application/vnd.example+json"}"#.utf8), nil) == .unsupportedManifest)
        #expect(Self.code(Array(#"{"schemaVersion": 2}"#.utf8), "application/vnd.example+json") == .unsupportedManifest)
        #expect(Self.code(Array(#"{"schemaVersion": 2}"#.utf8), nil) == .unsupportedManifest)
    }

    static let garbage: [[UInt8]] = [
        [],
        Array("not json".utf8),
        Array("[1, 2]".utf8),
        Array(#"{"schemaVersion": "two"}"#.utf8),
        [0xff, 0xfe, 0x00],
    ]

    @Test("garbage is MANIFEST_INVALID", arguments: garbage)
    func garbageIsInvalid(_ body: [UInt8]) {
        #expect(Self.code(body, MediaType.ociManifest) == .manifestInvalid)
    }

    @Test func structurallyBrokenManifestsAreInvalid() {
        // Missing layers.
        let noLayers = Array(#"{"schemaVersion": 2, "config": {"mediaType": "x", "digest": "\#(F.configDigest)", "size": 1}}"#.utf8)
        #expect(Self.code(noLayers, MediaType.ociManifest) == .manifestInvalid)
        // A digest that would escape the store.
        let badDigest = Array(#"{"schemaVersion": 2, "config": {"mediaType": "x", "digest": "sha256:../../etc", "size": 1}, "layers": []}"#.utf8)
        #expect(Self.code(badDigest, MediaType.ociManifest) == .manifestInvalid)
        // A negative size.
        let negative = Array(#"{"schemaVersion": 2, "config": {"mediaType": "x", "digest": "\#(F.configDigest)", "size": -1}, "layers": []}"#.utf8)
        #expect(Self.code(negative, MediaType.ociManifest) == .manifestInvalid)
    }

    @Test func artifactsAreNotImages() throws {
        let artifact = try ParsedManifest.decode(
            F.image(mediaType: MediaType.ociManifest, configType: "application/vnd.cncf.helm.config.v1+json"), contentType: nil)
        guard case .image(let manifest, _) = artifact else {
            Issue.record("expected an image manifest")
            return
        }
        #expect(!manifest.isImage)

        let typed = try ParsedManifest.decode(
            F.image(mediaType: MediaType.ociManifest, configType: MediaType.ociConfig, artifactType: "application/vnd.example.sbom"),
            contentType: nil)
        guard case .image(let typedManifest, _) = typed else {
            Issue.record("expected an image manifest")
            return
        }
        #expect(typedManifest.artifactType == "application/vnd.example.sbom")
        #expect(!typedManifest.isImage)

        let oci = try ParsedManifest.decode(F.image(mediaType: MediaType.ociManifest, configType: MediaType.ociConfig), contentType: nil)
        guard case .image(let ociManifest, _) = oci else {
            Issue.record("expected an image manifest")
            return
        }
        #expect(ociManifest.isImage)
    }
}
