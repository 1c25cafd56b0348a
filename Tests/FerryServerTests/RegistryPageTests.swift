import FerryCore
import FerryServer
import Testing

/// ``RegistryPage``: distribution's pagination of tags and the catalog.
@Suite("RegistryPage")
struct RegistryPageTests {
    private static let names = ["1.0", "1.1", "demo/app", "latest"]

    @Test("n names after last, a Link to the next page with carried parameters, percent-encoded; none on the last page")
    func pagesAndLinks() throws {
        let first = try RegistryPage(Self.names, n: "2", last: nil, path: "/v2/demo/app/tags/list", carried: [("ns", "docker.io")])
        #expect(first.names == ["1.0", "1.1"])
        #expect(first.link == #"</v2/demo/app/tags/list?n=2&last=1.1&ns=docker.io>; rel="next""#)
        let second = try RegistryPage(Self.names, n: "2", last: "1.1", path: "/v2/_catalog")
        #expect(second.names == ["demo/app", "latest"] && second.link == nil)
        let all = try RegistryPage(Self.names, n: nil, last: nil, path: "/v2/_catalog")
        #expect(all.names == Self.names && all.link == nil)
        #expect(try RegistryPage(Self.names, n: "0", last: nil, path: "/v2/_catalog").names.isEmpty)
        // Nothing a client sends can end the header's <…> or add a parameter.
        let odd = try RegistryPage(["a b>; rel=x", "z"], n: "1", last: nil, path: "/v2/_catalog", carried: [("ns", "x&y=<z>")])
        #expect(odd.link == #"</v2/_catalog?n=1&last=a%20b%3E%3B%20rel%3Dx&ns=x%26y%3D%3Cz%3E>; rel="next""#)
    }

    @Test("an n that is not a non-negative integer is PAGINATION_NUMBER_INVALID", arguments: ["-1", "abc", "1.5", "", "99999999999999999999999"])
    func invalidN(_ n: String) {
        #expect(throws: FerryError.self) { try RegistryPage(Self.names, n: n, last: nil, path: "/v2/_catalog") }
        do {
            _ = try RegistryPage(Self.names, n: n, last: nil, path: "/v2/_catalog")
        } catch {
            #expect(error.code == .paginationNumberInvalid)
        }
    }
}
