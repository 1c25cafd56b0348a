import FerryServer
import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import Testing

@Suite("Auth and /v2/ base")
struct AuthRoutesTests {
    typealias S = ServerFixture

    @Test func baseAnswers200WithAToken() async throws {
        try await S.withServer { _, client in
            let response = try await client.get("/v2/")
            #expect(response.status == .ok)
            #expect(response.headers[.dockerAPIVersion] == "registry/2.0")
            #expect(response.headers[.contentType] == "application/json")
            #expect(String(buffer: response.body) == "{}")
            #expect(try await client.get("/v2").status == .ok)
            #expect(try await client.get("/v2/", method: .head).status == .ok)
        }
    }

    @Test func withoutCredentialsIs401WithABasicChallenge() async throws {
        try await S.withServer { _, client in
            for uri in ["/v2/", "/v2/lib/app/manifests/v1", "/v2/lib/app/tags/list", "/nope"] {
                try await client.execute(uri: uri, method: .get) { response in
                    #expect(response.status == .unauthorized, "\(uri)")
                    #expect(response.headers[.wwwAuthenticate] == #"Basic realm="ferry""#)
                    #expect(response.errorCodes == ["UNAUTHORIZED"])
                    #expect(response.headers[.contentType] == "application/json")
                }
            }
        }
    }

    static let refused: [String] = [
        "Bearer wrong-token", "Bearer", "Bearer ", "Basic", "Basic !!!notbase64", "Basic \(Data("user-without-colon".utf8).base64EncodedString())",
        "Basic \(Data("user:wrong".utf8).base64EncodedString())", "Digest username=\"x\"", "token",
    ]

    @Test("bad credentials are 401, never 500", arguments: refused)
    func badCredentials(_ authorization: String) async throws {
        try await S.withServer { _, client in
            try await client.execute(uri: "/v2/", method: .get, headers: [.authorization: authorization]) { response in
                #expect(response.status == .unauthorized)
                #expect(response.errorCodes == ["UNAUTHORIZED"])
            }
        }
    }

    @Test func basicAuthWithTheTokenAsPasswordWorks() async throws {
        try await S.withServer { _, client in
            for user in ["ferry", "anyone", ""] {
                let basic = "Basic " + Data("\(user):\(S.token)".utf8).base64EncodedString()
                try await client.execute(uri: "/v2/", method: .get, headers: [.authorization: basic]) { response in
                    #expect(response.status == .ok)
                }
            }
            let lowercase = "basic " + Data("x:\(S.token)".utf8).base64EncodedString()
            try await client.execute(uri: "/v2/", method: .get, headers: [.authorization: lowercase]) { response in
                #expect(response.status == .ok)
            }
        }
    }

    @Test func healthzIsOpen() async throws {
        try await S.withServer { _, client in
            try await client.execute(uri: "/healthz", method: .get) { response in
                #expect(response.status == .ok)
                #expect(String(buffer: response.body) == "ok\n")
            }
        }
    }

    @Test func constantTimeEqualsComparesWholeStrings() {
        #expect(constantTimeEquals("abc", "abc"))
        #expect(!constantTimeEquals("abc", "abd"))
        #expect(!constantTimeEquals("abc", "abcd"))
        #expect(!constantTimeEquals("abc", ""))
        #expect(constantTimeEquals("", ""))
    }
}
