import FerryFormats
import FerryProxy
import Foundation
import NIOHTTP1
import Testing

extension ProxyServerTests {
    struct OAuthReply: Decodable {
        var access_token: String?
        var expires_in: Int?
        var error: String?
    }

    /// distribution's token spec, *OAuth2*: containerd posts a form before it tries `GET`.
    @Test("POST /token with an OAuth2 password grant issues the same token; another grant is 400 unsupported_grant_type; a wrong licence 401 with Basic")
    func oauthPasswordGrant() async throws {
        try await Self.withProxy { proxy in
            _ = proxy.upstream.addImage(tag: "1.4", layer: Array(repeating: 3, count: 1000))
            let name = "proxy/shop/vendor/team/app"
            let form: HTTPHeaders = ["Content-Type": "application/x-www-form-urlencoded"]
            func post(_ body: String) async throws -> Reply {
                try await proxy.get("/token", method: .POST, headers: form, body: Array(body.utf8))
            }
            let scope = "repository:\(name):pull".addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
            let granted = try await post(
                "grant_type=password&username=acme&password=\(proxy.licence.secret)&service=ferry-proxy&client_id=containerd-client&scope=\(scope)")
            #expect(granted.status == 200)
            let token = try #require(try JSONDecoder().decode(OAuthReply.self, from: Data(granted.body)).access_token)
            #expect(try await proxy.get("/v2/\(name)/manifests/1.4", authorization: "Bearer \(token)").status == 200)

            // Two scopes in one, '+' for the space: both granted. A broken escape, bytes that are
            // not UTF-8: a 400; nothing the form holds stops the proxy.
            let other = "repository:proxy/shop/vendor/team/tool:pull".addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
            let both = try await post("grant_type=password&password=\(proxy.licence.secret)&scope=\(scope)+\(other)")
            #expect(both.status == 200)
            let toolToken = try #require(try JSONDecoder().decode(OAuthReply.self, from: Data(both.body)).access_token)
            // Granted for tool too: the upstream is asked (and has no such image), no 401 insufficient_scope.
            let tool = try await proxy.get("/v2/proxy/shop/vendor/team/tool/manifests/1", authorization: "Bearer \(toolToken)")
            #expect(tool.status == 404, "\(tool.status)")
            let appOnly = try await proxy.get("/v2/proxy/shop/vendor/team/tool/manifests/1", authorization: "Bearer \(token)")
            #expect(appOnly.status == 401, "a token for app alone is refused for tool: \(appOnly.status)")
            #expect(try await post("grant_type=password&password=a b").status == 401, "a raw space is taken as it is: a wrong licence")
            for bad in ["grant_type=password&password=100%", "grant_type=password&password=%zz", "grant_type=password&password=%FF%FE"] {
                #expect(try await post(bad).status == 400, "\(bad)")
            }
            #expect(try await proxy.get("/v2/").status == 401, "the proxy is still up")

            #expect(try await post("").status == 401, "no form: challenged for credentials")
            let huge = try await post("grant_type=password&scope=" + String(repeating: "a", count: 100 * 1024))
            #expect(huge.status == 413 && huge.text.contains("REQUEST_TOO_LARGE"), "a 100 KiB form: \(huge.status) \(huge.text)")
            let refresh = try await post("grant_type=refresh_token&refresh_token=x&service=ferry-proxy")
            #expect(refresh.status == 400)
            #expect(try JSONDecoder().decode(OAuthReply.self, from: Data(refresh.body)).error == "unsupported_grant_type")

            let wrong = try await post("grant_type=password&username=acme&password=ferrylic_wrong&scope=\(scope)")
            #expect(wrong.status == 401)
            #expect(wrong.headers.first(name: "WWW-Authenticate")?.hasPrefix("Basic") == true, "\(wrong.headers)")
        }
    }
}
