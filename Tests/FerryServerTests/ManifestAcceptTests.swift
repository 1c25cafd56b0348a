import FerryCore
import Testing

@testable import FerryServer

@Suite("ManifestAccept")
struct ManifestAcceptTests {
    @Test("the types an Accept header lists, parameters dropped, over several lines; nil for none or a wildcard")
    func parse() throws {
        let accept = try #require(ManifestAccept(["\(MediaType.dockerManifest);q=0.9, \(MediaType.ociManifest)", "Application/Json"]))
        #expect(accept.takes(MediaType.dockerManifest) && accept.takes(MediaType.ociManifest) && accept.takes("application/json"))
        #expect(!accept.takes(MediaType.ociIndex))
        #expect(ManifestAccept([]) == nil)
        #expect(ManifestAccept([" , "]) == nil)
        #expect(ManifestAccept(["\(MediaType.ociManifest), */*"]) == nil)
        #expect(ManifestAccept(["application/*"]) == nil)
    }

    /// RFC 9110 §12.4.2: "a value of 0 means not acceptable" (an audit's curl got an OCI index it
    /// had refused with `q=0`).
    @Test("a type with weight q=0 is refused, with or without a wildcard; other weights are acceptable")
    func zeroWeight() throws {
        let accept = try #require(ManifestAccept(["\(MediaType.ociIndex);q=0, \(MediaType.dockerManifestList);q=0.5"]))
        #expect(!accept.takes(MediaType.ociIndex) && accept.takes(MediaType.dockerManifestList) && !accept.takes(MediaType.ociManifest))
        let wildcard = try #require(ManifestAccept(["*/*", "\(MediaType.ociIndex); q=0.000"]))
        #expect(!wildcard.takes(MediaType.ociIndex) && wildcard.takes(MediaType.ociManifest))
        let only = try #require(ManifestAccept(["\(MediaType.ociIndex);q=0"]))
        #expect(!only.takes(MediaType.ociIndex) && only.takes(MediaType.dockerManifest))
        #expect(ManifestAccept(["\(MediaType.ociIndex);q=0.001"]) != nil && ManifestAccept(["\(MediaType.ociIndex);q=0.001"])!.takes(MediaType.ociIndex))
        if case .asIs = ManifestNegotiation.decide(mediaType: MediaType.ociIndex, bytes: [UInt8](), accepted: accept, tag: "1") {
            Issue.record("an OCI index to a client that refused it with q=0")
        }
    }

    @Test("the most specific entry decides: a refused wildcard refuses what nothing more specific takes")
    func specificity() throws {
        let none = try #require(ManifestAccept(["*/*;q=0", MediaType.dockerManifest]))
        #expect(none.takes(MediaType.dockerManifest) && !none.takes(MediaType.ociIndex))
        let ranges = try #require(ManifestAccept(["application/*;q=0, */*"]))
        #expect(!ranges.takes(MediaType.ociIndex) && ranges.takes("text/plain"))
        let specific = try #require(ManifestAccept(["application/*, */*;q=0"]))
        #expect(specific.takes(MediaType.ociIndex) && !specific.takes("text/plain"))
        let twice = try #require(ManifestAccept(["\(MediaType.ociIndex);q=0", MediaType.ociIndex, MediaType.dockerManifest]))
        #expect(twice.takes(MediaType.ociIndex), "listed twice: acceptable if either says so")
    }

    /// RFC 9110: `weight = OWS ";" OWS "q=" qvalue`, `qvalue = ( "0" [ "." 0*3DIGIT ] ) / …`.
    @Test("only a weight written as RFC 9110 writes zero refuses; anything malformed refuses nothing", arguments: [
        ("q=0", true), ("Q=0", true), ("q=0.", true), ("q=0.000", true), ("charset=utf-8;q=0", true),
        ("q=0.001", false), ("q=1", false), ("q = 0", false), ("q=00", false), ("q=-0", false), ("q=0x0", false),
        ("q=1e-400", false), ("q=0.0000", false), ("q=nan", false), ("q=", false), ("q", false),
    ])
    func weights(parameters: String, refuses: Bool) throws {
        let accept = try #require(ManifestAccept(["\(MediaType.ociIndex);\(parameters), \(MediaType.dockerManifest)"]))
        #expect(accept.takes(MediaType.ociIndex) == !refuses, "\(parameters)")
    }
}

@Suite("ManifestNegotiation")
struct ManifestNegotiationTests {
    static let amd64 = Digest.sha256(of: Array("amd64".utf8))
    static let arm64 = Digest.sha256(of: Array("arm64".utf8))
    static let ociAmd64 = Digest.sha256(of: Array("oci-amd64".utf8))

    /// A Docker manifest list: amd64 as an OCI manifest first, then as a Docker one, and arm64.
    static let list: [UInt8] = {
        func entry(_ type: String, _ digest: Digest, _ architecture: String) -> String {
            #"{"mediaType":"\#(type)","size":10,"digest":"\#(digest)","platform":{"os":"linux","architecture":"\#(architecture)"}}"#
        }
        let entries = [entry(MediaType.ociManifest, ociAmd64, "amd64"), entry(MediaType.dockerManifest, amd64, "amd64"), entry(MediaType.dockerManifest, arm64, "arm64")]
        return Array(#"{"schemaVersion":2,"mediaType":"\#(MediaType.dockerManifestList)","manifests":[\#(entries.joined(separator: ","))]}"#.utf8)
    }()

    static func decide(_ type: String, _ accept: [String], bytes: [UInt8] = []) -> ManifestNegotiation.Decision {
        ManifestNegotiation.decide(mediaType: type, bytes: bytes, accepted: ManifestAccept(accept), tag: "1")
    }

    @Test("as the CNCF registry 2.8: an OCI index or image manifest only to a client that takes it, a list's linux/amd64 manifest of a type the client takes; anything to a client with no Accept")
    func decisions() {
        let dockerOnly = [MediaType.dockerManifest]
        for type in [MediaType.ociIndex, MediaType.ociManifest, MediaType.dockerManifestList, MediaType.dockerManifest] {
            #expect(Self.decide(type, [], bytes: Self.list) == .asIs, "no Accept: \(type)")
            #expect(Self.decide(type, ["*/*"], bytes: Self.list) == .asIs, "a wildcard: \(type)")
            #expect(Self.decide(type, [type], bytes: Self.list) == .asIs, "taken: \(type)")
        }
        guard case .refused(let index) = Self.decide(MediaType.ociIndex, dockerOnly) else { Issue.record("an OCI index to a Docker-only client"); return }
        #expect(index.contains("OCI index"))
        guard case .refused(let manifest) = Self.decide(MediaType.ociManifest, dockerOnly + [MediaType.dockerManifestList]) else {
            Issue.record("an OCI image manifest to a Docker-only client")
            return
        }
        #expect(manifest.contains("OCI image manifest"))
        #expect(Self.decide(MediaType.dockerManifestList, dockerOnly, bytes: Self.list) == .platformManifest([Self.amd64]))
        #expect(Self.decide(MediaType.dockerManifestList, [MediaType.ociManifest, MediaType.dockerManifest], bytes: Self.list) == .platformManifest([Self.ociAmd64, Self.amd64]))
        #expect(Self.decide(MediaType.dockerManifestList, ["application/json"], bytes: Self.list) == .platformManifest([]))
        // A Docker manifest to a client listing only OCI types: as it is, as 2.8 does.
        #expect(Self.decide(MediaType.dockerManifest, [MediaType.ociManifest]) == .asIs)
    }
}
