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
}
