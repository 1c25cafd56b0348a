import AsyncHTTPClient
import FerryCore
import Foundation
import Logging
import NIOCore
import NIOHTTP1

extension RegistryClient {
    private struct TokenResponse: Decodable {
        var token: String?
        var accessToken: String?
        var expiresIn: Int?

        enum CodingKeys: String, CodingKey {
            case token
            case accessToken = "access_token"
            case expiresIn = "expires_in"
        }
    }

    /// Fetches a Bearer token from the challenge's realm (distribution `docs/spec/auth/token.md`):
    /// `GET realm?service=…&scope=…`, with Basic credentials when we have them.
    func fetchToken(_ key: TokenCache.Key, host: String, credential: RegistryCredential?, logger: Logger) async throws -> TokenCache.Token {
        guard var components = URLComponents(string: key.realm), let scheme = components.scheme?.lowercased(),
            scheme == "https" || scheme == "http", let realmHost = components.host
        else {
            throw FerryError(.upstreamError, "registry \(host) sent an invalid token realm; it cannot be used")
        }
        let realmAuthority = components.port.map { "\(realmHost):\($0)" } ?? realmHost
        if scheme == "http", credential != nil, !configuration.allowsPlainHTTP(realmAuthority), !configuration.allowsPlainHTTP(host) {
            throw FerryError(
                .configuration,
                "registry \(host) wants credentials sent to a plain-HTTP token service (\(realmAuthority)); mark it insecure only if that is intended")
        }
        var query = components.queryItems ?? []
        if !key.service.isEmpty { query.append(URLQueryItem(name: "service", value: key.service)) }
        if !key.scope.isEmpty { query.append(URLQueryItem(name: "scope", value: key.scope)) }
        components.queryItems = query
        guard let url = components.string else {
            throw FerryError(.upstreamError, "registry \(host) sent an invalid token realm; it cannot be used")
        }
        return try await withRetries(what: "token for \(host)", logger: logger) { _ in
            var request = HTTPClientRequest(url: url)
            request.headers.add(name: "User-Agent", value: configuration.userAgent)
            if let credential { request.headers.add(name: "Authorization", value: credential.basicAuthorization) }
            let issued = ContinuousClock.now
            // The realm is held to the redirect policy's address rule, and so are its redirects.
            let upstream = try await execute(request, registry: host, naming: realmAuthority, deadline: .now() + .seconds(60), logger: logger)
            let response = upstream.response
            guard response.status == .ok else {
                if response.status == .unauthorized || response.status == .forbidden {
                    // The reason, as the Docker CLI shows it ("licence revoked").
                    let body = (try? await response.body.collect(upTo: 64 * 1024)).map { Array($0.readableBytesView) } ?? []
                    let said = RegistryErrorResponse.summary(of: body).map { ": \($0.text)" } ?? ""
                    let what = credential == nil ? "an anonymous token" : "a token with the configured credentials"
                    let advice =
                        credential == nil
                        ? "add credentials for \(host) to the \(configuration.credentialsFlag) file"
                        : "check the entry for \(host) in the \(configuration.credentialsFlag) file"
                    throw FerryError(.unauthorized, "the token service of registry \(host) refused \(what) (HTTP \(response.status.code)\(said)); \(advice)")
                }
                throw await failure(upstream, host: realmAuthority, what: "token for \(host)")
            }
            let body = try await response.body.collect(upTo: 1024 * 1024)
            guard let decoded = try? JSONDecoder().decode(TokenResponse.self, from: Data(body.readableBytesView)),
                let token = decoded.token ?? decoded.accessToken, !token.isEmpty
            else {
                throw FerryError(.upstreamError, "the token service of registry \(host) answered without a token")
            }
            let lifetime = Duration.seconds(max(decoded.expiresIn ?? 60, 1))
            logger.debug("obtained registry token", metadata: ["host": "\(host)", "scope": "\(key.scope)", "expires_in": "\(lifetime)"])
            return TokenCache.Token(value: token, refreshAt: TokenCache.refreshTime(issued: issued, lifetime: lifetime))
        }
    }
}
