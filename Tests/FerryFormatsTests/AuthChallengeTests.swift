import FerryFormats
import Testing

@Suite("AuthChallenge.parse")
struct AuthChallengeTests {
    @Test func bearerWithQuotedCommasInTheScope() throws {
        let header = #"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push""#
        let challenges = AuthChallenge.parse(header)
        try #require(challenges.count == 1)
        let challenge = challenges[0]
        #expect(challenge.scheme == "bearer")
        #expect(challenge.realm == "https://auth.example/token")
        #expect(challenge.service == "registry.example")
        #expect(challenge.scope == "repository:a/b:pull,push")
        #expect(challenge.error == nil)
    }

    @Test func escapedQuotesAndBackslashesAreUnescaped() throws {
        let challenges = AuthChallenge.parse(#"Bearer realm="a \"quoted\" realm",service="back\\slash""#)
        try #require(challenges.count == 1)
        #expect(challenges[0].realm == #"a "quoted" realm"#)
        #expect(challenges[0].service == #"back\slash"#)
    }

    @Test func errorParameterIsRead() throws {
        let challenges = AuthChallenge.parse(#"Bearer realm="https://auth/token",error="invalid_token",error_description="expired""#)
        try #require(challenges.count == 1)
        #expect(challenges[0].error == "invalid_token")
        #expect(challenges[0].parameters["error_description"] == "expired")
    }

    @Test func insufficientScopeAndTokenValues() throws {
        let challenges = AuthChallenge.parse(#"Bearer realm=https://auth/token, error=insufficient_scope, scope="repository:x:pull""#)
        try #require(challenges.count == 1)
        #expect(challenges[0].realm == "https://auth/token")
        #expect(challenges[0].error == "insufficient_scope")
        #expect(challenges[0].scope == "repository:x:pull")
    }

    @Test func basic() throws {
        let challenges = AuthChallenge.parse(#"Basic realm="Registry Realm""#)
        try #require(challenges.count == 1)
        #expect(challenges[0].scheme == "basic")
        #expect(challenges[0].realm == "Registry Realm")
    }

    @Test func schemeAndParameterNamesAreCaseInsensitive() throws {
        let challenges = AuthChallenge.parse(#"BEARER Realm="r",SERVICE="s""#)
        try #require(challenges.count == 1)
        #expect(challenges[0].scheme == "bearer")
        #expect(challenges[0].realm == "r")
        #expect(challenges[0].service == "s")
    }

    @Test func severalChallengesInOneHeader() {
        let header = #"Basic realm="basic, with comma", Bearer realm="https://auth/token",service="svc", Negotiate"#
        let challenges = AuthChallenge.parse(header)
        #expect(challenges.map(\.scheme) == ["basic", "bearer", "negotiate"])
        #expect(challenges.first?.realm == "basic, with comma")
        #expect(challenges.dropFirst().first?.service == "svc")
        #expect(challenges.last?.parameters.isEmpty == true)
    }

    @Test func token68FormIsTolerated() {
        let challenges = AuthChallenge.parse(#"Negotiate abc123==, Bearer realm="r""#)
        #expect(challenges.map(\.scheme) == ["negotiate", "bearer"])
        #expect(challenges.last?.realm == "r")
    }

    @Test func emptyValuesAndMissingValues() throws {
        let challenges = AuthChallenge.parse(#"Bearer realm="",service="#)
        try #require(challenges.count == 1)
        #expect(challenges[0].realm == "")
        #expect(challenges[0].service == "")
    }

    @Test func unterminatedQuoteRunsToTheEnd() throws {
        let challenges = AuthChallenge.parse(#"Bearer realm="https://auth/token"#)
        try #require(challenges.count == 1)
        #expect(challenges[0].realm == "https://auth/token")
    }

    static let junk: [String] = [
        "", " ", ",", ",,,", "=", "==", "\"", "\"\"\"", "\\", "realm=\"x\"", "=\"x\",", "Bearer ,,,=,,", "Bearer realm=\"\\",
        "Bearer realm", "Bearer =\"x\"", "\u{0}\u{1}\u{7f}", "Bearer réalm=\"ü\"", "😀 realm=\"😀\"", String(repeating: "a=\"", count: 1000),
        String(repeating: "Bearer ", count: 500), "Bearer\trealm=\"tab\"",
    ]

    @Test("junk never crashes", arguments: junk)
    func junkNeverCrashes(_ header: String) {
        let challenges = AuthChallenge.parse(header)
        for challenge in challenges {
            #expect(!challenge.scheme.isEmpty)
            #expect(challenge.scheme == challenge.scheme.lowercased())
        }
    }

    @Test func parametersBeforeAnySchemeAreDropped() {
        let challenges = AuthChallenge.parse(#"realm="stray", Bearer realm="r""#)
        #expect(challenges.map(\.scheme) == ["bearer"])
        #expect(challenges.first?.realm == "r")
    }

    @Test func tabSeparatesSchemeAndParameters() throws {
        let challenges = AuthChallenge.parse("Bearer\trealm=\"tab\"")
        try #require(challenges.count == 1)
        #expect(challenges[0].realm == "tab")
    }
}
