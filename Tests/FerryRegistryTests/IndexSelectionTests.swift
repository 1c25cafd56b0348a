import FerryCore
import FerryRegistry
import Testing

@Suite("IndexSelection.select")
struct IndexSelectionTests {
    static func digest(_ n: Int) -> Digest {
        try! Digest(parsing: "sha256:" + String(repeating: String(n % 10), count: 64))
    }

    static func entry(
        _ n: Int, _ platform: String?, mediaType: String = MediaType.ociManifest, annotations: [String: String]? = nil
    ) -> Descriptor {
        let parsed = platform.map { text -> Platform in
            let parts = text.split(separator: "/").map(String.init)
            return Platform(os: parts[0], architecture: parts[1], variant: parts.count > 2 ? parts[2] : nil)
        }
        return Descriptor(mediaType: mediaType, digest: digest(n), size: 100, annotations: annotations, platform: parsed)
    }

    static func index(_ entries: [Descriptor]) -> ImageIndex { ImageIndex(mediaType: MediaType.ociIndex, manifests: entries) }
    static let amd64 = Platform(os: "linux", architecture: "amd64")
    static let arm64 = Platform(os: "linux", architecture: "arm64")

    static let attestation = entry(
        9, "unknown/unknown",
        annotations: ["vnd.docker.reference.type": "attestation-manifest", "vnd.docker.reference.digest": digest(1).description])

    @Test func selectsTheMatchingPlatform() {
        let index = Self.index([Self.entry(1, "linux/amd64"), Self.entry(2, "linux/arm64/v8"), Self.attestation])
        #expect(IndexSelection.select(from: index, for: Self.arm64) == .selected(Self.entry(2, "linux/arm64/v8")))
        #expect(IndexSelection.select(from: index, for: Platform(os: "linux", architecture: "x86_64")) == .selected(Self.entry(1, "linux/amd64")))
    }

    @Test func attestationsAreSkippedAndNotListed() {
        // An attestation annotated on a real-looking platform is still skipped.
        let sneaky = Self.entry(3, "linux/arm64", annotations: ["vnd.docker.reference.type": "attestation-manifest"])
        let index = Self.index([Self.attestation, sneaky, Self.entry(1, "linux/amd64")])
        #expect(IndexSelection.select(from: index, for: Self.arm64) == .noMatch(available: [Self.amd64]))
        #expect(IndexSelection.select(from: index, for: Self.amd64) == .selected(Self.entry(1, "linux/amd64")))
    }

    @Test func unknownMediaTypesAreSkippedWithoutError() {
        let odd = Self.entry(4, "linux/amd64", mediaType: "application/vnd.example.thing+json")
        let schema1 = Self.entry(5, "linux/amd64", mediaType: MediaType.dockerSchema1Signed)
        let good = Self.entry(1, "linux/amd64", mediaType: MediaType.dockerManifest)
        #expect(IndexSelection.select(from: Self.index([odd, schema1, good]), for: Self.amd64) == .selected(good))
        #expect(IndexSelection.select(from: Self.index([odd]), for: Self.amd64) == .noMatch(available: []))
    }

    @Test func nestedIndexEntriesAreCandidates() {
        let nested = Self.entry(6, "linux/amd64", mediaType: MediaType.ociIndex)
        #expect(IndexSelection.select(from: Self.index([Self.entry(2, "linux/arm64"), nested]), for: Self.amd64) == .selected(nested))
    }

    @Test func amd64FallsBackTo386() {
        let i386 = Self.entry(7, "linux/386")
        let index = Self.index([Self.entry(2, "linux/arm64"), i386])
        #expect(IndexSelection.select(from: index, for: Self.amd64) == .selected(i386))
    }

    @Test func exactMatchBeatsAnEarlierFallback() {
        let index = Self.index([Self.entry(7, "linux/386"), Self.entry(1, "linux/amd64")])
        #expect(IndexSelection.select(from: index, for: Self.amd64) == .selected(Self.entry(1, "linux/amd64")))
    }

    @Test func firstEntryWinsAmongEqualMatches() {
        let index = Self.index([Self.entry(1, "linux/amd64"), Self.entry(2, "linux/x86_64")])
        #expect(IndexSelection.select(from: index, for: Self.amd64) == .selected(Self.entry(1, "linux/amd64")))
    }

    @Test func noMatchListsEachPlatformOnceNormalised() {
        let index = Self.index([
            Self.entry(2, "linux/arm64"), Self.entry(3, "linux/aarch64"), Self.entry(4, "linux/arm64/v8"), Self.entry(5, "linux/s390x"),
            Self.entry(6, "linux/arm64"), Self.attestation,
        ])
        let expected = [Self.arm64, Platform(os: "linux", architecture: "s390x")]
        #expect(IndexSelection.select(from: index, for: Platform(os: "linux", architecture: "ppc64le")) == .noMatch(available: expected))
    }

    @Test func aSingleEntryWithoutPlatformIsTaken() {
        let bare = Self.entry(1, nil)
        #expect(IndexSelection.select(from: Self.index([bare, Self.attestation]), for: Self.arm64) == .selected(bare))
    }

    @Test func severalEntriesWithoutPlatformAreAmbiguous() {
        let index = Self.index([Self.entry(1, nil), Self.entry(2, nil)])
        #expect(IndexSelection.select(from: index, for: Self.amd64) == .noMatch(available: []))
    }

    @Test func emptyIndexHasNoMatch() {
        #expect(IndexSelection.select(from: Self.index([]), for: Self.amd64) == .noMatch(available: []))
    }
}
