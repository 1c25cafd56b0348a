import FerryCore
import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import Testing

@Suite("Tag list route")
struct TagListRoutesTests {
    typealias S = ServerFixture

    struct TagList: Decodable, Equatable {
        var name: String
        var tags: [String]
    }

    static func list(_ response: TestResponse) throws -> TagList {
        try JSONDecoder().decode(TagList.self, from: Data(response.body.readableBytesView))
    }

    @Test func tagsAreSortedLexically() async throws {
        try await S.withServer { _, client in
            let response = try await client.get("/v2/lib/app/tags/list")
            #expect(response.status == .ok)
            #expect(response.headers[.contentType] == "application/json")
            #expect(try Self.list(response) == TagList(name: "lib/app", tags: ["1.0", "a", "latest", "v1", "v2"]))
            #expect(response.headers[.link] == nil)
        }
    }

    @Test func paginationWithNAndLastFollowsLinks() async throws {
        try await S.withServer { _, client in
            var uri: String? = "/v2/lib/app/tags/list?n=2"
            var pages: [[String]] = []
            while let next = uri, pages.count < 10 {
                let response = try await client.get(next)
                #expect(response.status == .ok)
                pages.append(try Self.list(response).tags)
                uri = response.headers[.link].flatMap { link in
                    guard link.hasPrefix("<"), let close = link.firstIndex(of: ">"), link.hasSuffix(#"rel="next""#) else { return nil }
                    return String(link[link.index(after: link.startIndex)..<close])
                }
            }
            #expect(pages == [["1.0", "a"], ["latest", "v1"], ["v2"]])
        }
    }

    @Test func linkHeaderNamesTheNextPage() async throws {
        try await S.withServer { _, client in
            let response = try await client.get("/v2/lib/app/tags/list?n=3")
            #expect(response.headers[.link] == #"</v2/lib/app/tags/list?n=3&last=latest>; rel="next""#)
        }
    }

    @Test func lastAloneSkipsUpToAndIncludingIt() async throws {
        try await S.withServer { _, client in
            let afterLatest = try Self.list(try await client.get("/v2/lib/app/tags/list?last=latest"))
            let afterAll = try Self.list(try await client.get("/v2/lib/app/tags/list?last=zzz"))
            let oneAfterB = try Self.list(try await client.get("/v2/lib/app/tags/list?last=b&n=1"))
            #expect(afterLatest.tags == ["v1", "v2"])
            #expect(afterAll.tags == [])
            #expect(oneAfterB.tags == ["latest"])
        }
    }

    @Test func nZeroIsAnEmptyList() async throws {
        try await S.withServer { _, client in
            let response = try await client.get("/v2/lib/app/tags/list?n=0")
            #expect(response.status == .ok)
            #expect(try Self.list(response).tags == [])
        }
    }

    @Test func nLargerThanTheListHasNoLink() async throws {
        try await S.withServer { _, client in
            let response = try await client.get("/v2/lib/app/tags/list?n=5")
            #expect(try Self.list(response).tags.count == 5)
            #expect(response.headers[.link] == nil)
        }
    }

    @Test(arguments: ["-1", "abc", "1.5", ""])
    func invalidNIs400(_ n: String) async throws {
        try await S.withServer { _, client in
            let response = try await client.get("/v2/lib/app/tags/list?n=\(n)")
            #expect(response.status == .badRequest)
            // distribution's code for it.
            #expect(response.errorCodes == ["PAGINATION_NUMBER_INVALID"])
        }
    }

    @Test func unknownRepositoryIs404NameUnknown() async throws {
        try await S.withServer { _, client in
            let response = try await client.get("/v2/lib/nope/tags/list")
            #expect(response.status == .notFound)
            #expect(response.errorCodes == ["NAME_UNKNOWN"])
        }
    }

    @Test func headOfTagListHasNoBody() async throws {
        try await S.withServer { _, client in
            let response = try await client.get("/v2/lib/app/tags/list", method: .head)
            #expect(response.status == .ok)
            #expect(response.body.readableBytes == 0)
            #expect(Int(response.headers[.contentLength] ?? "") ?? 0 > 0)
        }
    }
}
