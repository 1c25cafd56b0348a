import FerryFormats
import Testing

@Suite("BearerAuthorization")
struct BearerAuthorizationTests {
    @Test("the token of a Bearer value, the scheme in any case; nil for other schemes and empty tokens")
    func token() {
        #expect(BearerAuthorization.token("Bearer abc") == "abc")
        #expect(BearerAuthorization.token("bearer abc") == "abc")
        #expect(BearerAuthorization.token("BEARER   abc") == "abc")
        #expect(BearerAuthorization.token("Bearer ") == nil)
        #expect(BearerAuthorization.token("Bearer    ") == nil)
        #expect(BearerAuthorization.token("Bearerabc") == nil)
        #expect(BearerAuthorization.token("Basic YTpi") == nil)
        #expect(BearerAuthorization.token("") == nil)
    }
}
