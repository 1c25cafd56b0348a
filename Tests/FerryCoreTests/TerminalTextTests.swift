import FerryCore
import Testing

@Suite("TerminalText")
struct TerminalTextTests {
    @Test("control characters, escape sequences and line breaks come out escaped; nothing else changes")
    func escapes() {
        #expect(TerminalText.escape("27.0.1") == "27.0.1")
        #expect(TerminalText.escape("a\u{1B}[2Jb") == "a\\x1b[2Jb")
        #expect(TerminalText.escape("x\ny\r\tz") == "x\\ny\\r\\tz")
        #expect(TerminalText.escape("\u{7F}\u{0}\u{9B}31m") == "\\x7f\\x00\\u{009b}31m")
        #expect(TerminalText.escape("left\u{202E}right\u{2028}") == "left\\u{202e}right\\u{2028}")
        #expect(TerminalText.escape("héllo ✓ 日本") == "héllo ✓ 日本")
        let forged = "down\nn9  https://x  0s ago  reachable"
        #expect(!TerminalText.escape(forged).contains("\n"))
    }

    @Test("the length is bounded, the cut marked; escaping again changes nothing")
    func bounded() {
        let long = String(repeating: "a", count: 500)
        let cut = TerminalText.escape(long, limit: 60)
        #expect(cut.unicodeScalars.count == 60)
        #expect(cut.hasSuffix("…"))
        #expect(TerminalText.escape(cut, limit: 60) == cut)
        let escapes = String(repeating: "\u{1B}", count: 100)
        let escaped = TerminalText.escape(escapes, limit: 50)
        #expect(escaped.unicodeScalars.count == 50 && !escaped.unicodeScalars.contains { $0.value < 0x20 })
        #expect(TerminalText.escape(TerminalText.escape("a\u{1B}b\nc")) == TerminalText.escape("a\u{1B}b\nc"))
    }
}
