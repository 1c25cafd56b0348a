/// Text from elsewhere (a node's heartbeat, a target's error, an upstream's message) made safe
/// to print on a terminal: every control character is shown escaped (`\n`, `\r`, `\t`, `\x1b`,
/// `\u{9b}` …), so no escape sequence reaches the terminal and no line break can forge a row,
/// and the length is bounded.
///
/// Escaping is idempotent (the output holds no control character), so a value sanitised by the
/// leader prints the same when the CLI escapes it again. Backslashes are left as they are: a
/// literal `\x1b` in the text is harmless, it is only text.
public enum TerminalText {
    /// The longest text ``escape(_:limit:)`` returns by default, in characters.
    public static let defaultLimit = 200

    /// `text` with its control characters escaped, cut to at most `limit` characters (the cut
    /// marked with `…`).
    public static func escape(_ text: String, limit: Int = defaultLimit) -> String {
        let limit = max(limit, 1)
        var out = ""
        var count = 0
        for scalar in text.unicodeScalars {
            let piece = escaped(scalar)
            count += piece.unicodeScalars.count
            // Stop early on huge input: one scalar past the limit is enough to know it is cut.
            if count > limit {
                var kept = String.UnicodeScalarView()
                kept.append(contentsOf: (out + piece).unicodeScalars.prefix(limit - 1))
                return String(kept) + "…"
            }
            out += piece
        }
        return out
    }

    /// One scalar as printed: itself, or its escape when it is a control character (C0, DEL,
    /// C1) or a line/paragraph separator.
    static func escaped(_ scalar: Unicode.Scalar) -> String {
        switch scalar {
        case "\n": return "\\n"
        case "\r": return "\\r"
        case "\t": return "\\t"
        default: break
        }
        let value = scalar.value
        if value < 0x20 || value == 0x7F {
            return "\\x" + hex(value, digits: 2)
        }
        if (0x80...0x9F).contains(value) || value == 0x2028 || value == 0x2029 || (0x202A...0x202E).contains(value)
            || (0x2066...0x2069).contains(value)
        {
            return "\\u{" + hex(value, digits: 4) + "}"
        }
        return String(scalar)
    }

    private static func hex(_ value: UInt32, digits: Int) -> String {
        let text = String(value, radix: 16)
        return String(repeating: "0", count: max(digits - text.count, 0)) + text
    }
}
