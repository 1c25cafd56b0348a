import FerryCore
import Foundation
import Testing

@Suite("Descriptor")
struct DescriptorTests {
    static let digest = try! Digest(parsing: "sha256:" + String(repeating: "ab", count: 32))

    static func descriptor(platform: Platform? = nil, annotations: [String: String]? = nil) -> Descriptor {
        Descriptor(mediaType: MediaType.ociManifest, digest: digest, size: 10, annotations: annotations, platform: platform)
    }

    @Test func buildKitAttestationAnnotationMarksAnAttestation() {
        let attestation = Self.descriptor(
            platform: Platform(os: "unknown", architecture: "unknown"),
            annotations: ["vnd.docker.reference.type": "attestation-manifest", "vnd.docker.reference.digest": Self.digest.description])
        #expect(attestation.isAttestation)
        // The annotation alone is enough, whatever the platform says.
        #expect(Self.descriptor(platform: Platform(os: "linux", architecture: "amd64"), annotations: ["vnd.docker.reference.type": "attestation-manifest"]).isAttestation)
    }

    @Test func unknownPlatformMarksAnAttestation() {
        #expect(Self.descriptor(platform: Platform(os: "unknown", architecture: "unknown")).isAttestation)
        #expect(Self.descriptor(platform: Platform(os: "linux", architecture: "unknown")).isAttestation)
    }

    @Test func ordinaryEntriesAreNotAttestations() {
        #expect(!Self.descriptor().isAttestation)
        #expect(!Self.descriptor(platform: Platform(os: "linux", architecture: "arm64")).isAttestation)
        #expect(!Self.descriptor(platform: Platform(os: "linux", architecture: "amd64"), annotations: ["vnd.docker.reference.type": "other"]).isAttestation)
    }

    @Test func decodingRejectsNegativeSizesAndBadDigests() {
        let negative = #"{"mediaType": "x", "digest": "\#(Self.digest)", "size": -1}"#
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(Descriptor.self, from: Data(negative.utf8)) }
        let traversal = #"{"mediaType": "x", "digest": "sha256:../../etc/passwd", "size": 1}"#
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(Descriptor.self, from: Data(traversal.utf8)) }
    }

    @Test func decodingToleratesAMissingMediaType() throws {
        let json = #"{"digest": "\#(Self.digest)", "size": 5, "urls": ["https://example/x"]}"#
        let descriptor = try JSONDecoder().decode(Descriptor.self, from: Data(json.utf8))
        #expect(descriptor.mediaType == "")
        #expect(descriptor.size == 5)
        #expect(descriptor.urls == ["https://example/x"])
    }
}
