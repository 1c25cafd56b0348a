import Synchronization
import Testing

@testable import FerryRegistry

// The limit guards against a hang, not a slow run: all unit suites share two cooperative threads.
@Suite("TokenCache", .timeLimit(.minutes(5)))
struct TokenCacheTests {
    static let key = TokenCache.Key(realm: "https://auth.example/token", service: "registry", scope: "repository:a/b:pull")

    /// Counts fetches and holds them until opened.
    final class Gate: Sendable {
        private let state = Mutex<(fetches: Int, open: Bool, waiters: [CheckedContinuation<Void, Never>])>((0, false, []))
        var fetches: Int { state.withLock { $0.fetches } }

        func fetch(_ value: String, lifetime: Duration = .seconds(300)) async -> TokenCache.Token {
            await withCheckedContinuation { continuation in
                let resume = state.withLock { state -> Bool in
                    state.fetches += 1
                    if state.open { return true }
                    state.waiters.append(continuation)
                    return false
                }
                if resume { continuation.resume() }
            }
            let now = ContinuousClock.now
            return TokenCache.Token(value: value, refreshAt: TokenCache.refreshTime(issued: now, lifetime: lifetime))
        }

        func open() {
            let waiters = state.withLock { state in
                state.open = true
                defer { state.waiters = [] }
                return state.waiters
            }
            for waiter in waiters { waiter.resume() }
        }
    }

    @Test func concurrentRequestsForOneScopeShareOneFetch() async throws {
        let cache = TokenCache()
        let gate = Gate()
        let tokens = try await withThrowingTaskGroup(of: String.self) { group in
            for index in 0..<10 {
                group.addTask { try await cache.token(for: Self.key) { await gate.fetch("token-\(index)") } }
            }
            // Let every request reach the cache before the one fetch completes.
            while gate.fetches == 0 { await Task.yield() }
            for _ in 0..<200 { await Task.yield() }
            gate.open()
            return try await group.reduce(into: [String]()) { $0.append($1) }
        }
        #expect(gate.fetches == 1)
        #expect(tokens.count == 10)
        #expect(Set(tokens).count == 1)
    }

    @Test func aCachedTokenIsReusedUntilItsRefreshTime() async throws {
        let cache = TokenCache()
        let gate = Gate()
        gate.open()
        let first = try await cache.token(for: Self.key) { await gate.fetch("one") }
        let second = try await cache.token(for: Self.key) { await gate.fetch("two") }
        #expect(first == "one")
        #expect(second == "one")
        #expect(gate.fetches == 1)
    }

    @Test func anExpiredTokenIsFetchedAgain() async throws {
        let cache = TokenCache()
        let gate = Gate()
        gate.open()
        _ = try await cache.token(for: Self.key) { await gate.fetch("one", lifetime: .zero) }
        let second = try await cache.token(for: Self.key) { await gate.fetch("two") }
        #expect(second == "two")
        #expect(gate.fetches == 2)
    }

    @Test func invalidateDropsTheToken() async throws {
        let cache = TokenCache()
        let gate = Gate()
        gate.open()
        _ = try await cache.token(for: Self.key) { await gate.fetch("one") }
        await cache.invalidate(Self.key)
        #expect(try await cache.token(for: Self.key) { await gate.fetch("two") } == "two")
    }

    @Test func scopesAreCachedSeparately() async throws {
        let cache = TokenCache()
        let gate = Gate()
        gate.open()
        var other = Self.key
        other.scope = "repository:c/d:pull"
        #expect(try await cache.token(for: Self.key) { await gate.fetch("ab") } == "ab")
        #expect(try await cache.token(for: other) { await gate.fetch("cd") } == "cd")
        #expect(gate.fetches == 2)
    }

    @Test func aFailedFetchIsNotCached() async throws {
        struct Refused: Error {}
        let cache = TokenCache()
        await #expect(throws: Refused.self) { try await cache.token(for: Self.key) { throw Refused() } }
        let gate = Gate()
        gate.open()
        #expect(try await cache.token(for: Self.key) { await gate.fetch("fresh") } == "fresh")
    }

    @Test(arguments: [
        (Duration.seconds(60), Duration.seconds(48)),
        (.seconds(300), .seconds(270)),
        (.seconds(3600), .seconds(3570)),
        (.seconds(1), .milliseconds(800)),
        (.zero, .zero),
    ])
    func refreshTimeIsAFifthEarlyAtMost30Seconds(_ lifetime: Duration, _ expected: Duration) {
        let issued = ContinuousClock.now
        #expect(TokenCache.refreshTime(issued: issued, lifetime: lifetime) == issued + expected)
    }
}
