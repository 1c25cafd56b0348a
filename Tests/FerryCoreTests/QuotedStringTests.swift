import FerryCore
import Foundation
import Testing

@Suite("Quoted string literals")
struct QuotedStringTests {
    @Test("Quotes, backslashes and control characters are escaped; the result decodes back as JSON")
    func escapes() throws {
        let text = "a\"b\\c\nd\re\tf\u{1}g\u{7F}h é"
        let quoted = QuotedString.literal(text)
        #expect(quoted == "\"a\\\"b\\\\c\\nd\\re\\tf\\u0001g\\u007Fh é\"")
        let decoded = try JSONDecoder().decode(String.self, from: Data(quoted.utf8))
        #expect(decoded == text)
    }
}
