import FerryFormats
import Foundation
import Testing

@Suite("HTTP Basic credentials")
struct BasicAuthorizationTests {
    @Test func parsesAnyUserAndThePassword() {
        let encoded = Data("acme:ferrylic_00:11".utf8).base64EncodedString()
        #expect(BasicAuthorization(header: "Basic \(encoded)") == BasicAuthorization(user: "acme", password: "ferrylic_00:11"))
        #expect(BasicAuthorization(header: "basic  \(encoded) ")?.password == "ferrylic_00:11")
        #expect(BasicAuthorization(header: "Basic " + Data(":secret".utf8).base64EncodedString()) == BasicAuthorization(user: "", password: "secret"))
        let written = BasicAuthorization(user: "x", password: "p")
        #expect(BasicAuthorization(header: written.header) == written)
    }

    @Test func refusesAnythingElse() {
        for header in ["Bearer abc", "Basic", "Basic !!!", "Basic " + Data("no-colon".utf8).base64EncodedString(),
                       "Basic " + Data([0xff, 0x3a, 0x41]).base64EncodedString(), "Basic " + String(repeating: "A", count: 5000), "Basicabc"] {
            #expect(BasicAuthorization(header: header) == nil, "\(header.prefix(40))")
        }
    }
}
