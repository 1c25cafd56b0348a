import FerryCore
import FerryTransfer

/// Bearer tokens per (realm, service, scope), shared by every request to a registry.
/// Concurrent requests for the same scope wait for one token fetch.
actor TokenCache {
    struct Key: Hashable, Sendable {
        var realm: String
        var service: String
        var scope: String
    }

    struct Token: Sendable {
        var value: String
        /// When to stop using the token: a little before it expires.
        var refreshAt: ContinuousClock.Instant
    }

    private var tokens: [Key: Token] = [:]
    private let fetches = SingleFlight<Key, Token>()
    private let clock = ContinuousClock()

    func token(for key: Key, fetch: @escaping @Sendable () async throws -> Token) async throws -> String {
        if let token = tokens[key], clock.now < token.refreshAt { return token.value }
        let token = try await fetches.run(key, fetch)
        tokens[key] = token
        return token.value
    }

    func invalidate(_ key: Key) {
        tokens[key] = nil
    }

    /// When to refresh a token valid for `lifetime` from `issued`: a fifth of its life early,
    /// at most 30 s early, so that no request goes out with a token about to expire.
    static func refreshTime(issued: ContinuousClock.Instant, lifetime: Duration) -> ContinuousClock.Instant {
        issued + lifetime - min(lifetime / 5, .seconds(30))
    }
}
