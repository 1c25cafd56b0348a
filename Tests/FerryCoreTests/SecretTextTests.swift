import FerryCore
import Testing

/// An audit set FERRY_TOKEN with a trailing carriage return: the HTTP client's error printed the
/// whole token on stderr.
@Suite("SecretText")
struct SecretTextTests {
    @Test("a secret with a control character or space is refused without showing it; a clean one passes")
    func refusesUnprintable() throws {
        try SecretText.refuseUnprintable("ferryadm_0123abcd", what: "admin token", from: "FERRY_TOKEN")
        for bad in ["ferryadm_0123abcd\r", "ferry\0adm", "two words", "tab\there", "del\u{7F}"] {
            do {
                try SecretText.refuseUnprintable(bad, what: "admin token", from: "FERRY_TOKEN")
                Issue.record("accepted \(bad.debugDescription)")
            } catch {
                #expect(error.code == .configuration && error.message.contains("admin token") && !error.message.contains("0123abcd"))
            }
        }
    }
}
