/// Byte counts and rates as operators write them: `512`, `64k`, `10MiB`, `1.5GB`, `10MiB/s`.
public enum ByteSize {
    /// Parses a size. `k`, `m`, `g`, `t` and `KiB`…`TiB` are binary (1024); `KB`…`TB` are decimal.
    public static func parse(_ input: String) throws(FerryError) -> Int64 {
        try parse(input.trimmingWhitespace(), shown: input, as: "size", example: "512MiB")
    }

    /// A size in `text`; errors name it as `what` with `input` as the operator wrote it.
    private static func parse(_ text: String, shown input: String, as what: String, example: String) throws(FerryError) -> Int64 {
        let numberEnd = text.firstIndex { !($0.isNumber || $0 == ".") } ?? text.endIndex
        guard let value = Double(text[..<numberEnd]), value >= 0, value.isFinite else {
            throw FerryError(
                .invalidArgument, "invalid \(what) '\(input.prefix(40))': expected a number \(what == "rate" ? "and a unit" : "with an optional unit"), e.g. \(example)")
        }
        let unit = text[numberEnd...].trimmingWhitespace().lowercased()
        let multiplier: Double
        switch unit {
        case "", "b": multiplier = 1
        case "k", "kib": multiplier = 1024
        case "m", "mib": multiplier = 1024 * 1024
        case "g", "gib": multiplier = 1024 * 1024 * 1024
        case "t", "tib": multiplier = 1024 * 1024 * 1024 * 1024
        case "kb": multiplier = 1e3
        case "mb": multiplier = 1e6
        case "gb": multiplier = 1e9
        case "tb": multiplier = 1e12
        default:
            throw FerryError(.invalidArgument, "invalid \(what) '\(input.prefix(40))': unknown unit '\(unit)' (use B, KiB, MiB, GiB, KB, MB, GB; e.g. \(example))")
        }
        let bytes = value * multiplier
        guard bytes < 9e18 else { throw FerryError(.invalidArgument, "invalid \(what) '\(input.prefix(40))': too large") }
        return Int64(bytes)
    }

    /// Parses a rate in bytes per second: a size followed by `/s` (`10MiB/s`), or `Mbit/s`-style bits.
    /// A lowercase `bps` suffix is bits (`100Mbps`); `Bps` is bytes (`10MBps`).
    public static func parseRate(_ input: String) throws(FerryError) -> Int64 {
        let trimmed = input.trimmingWhitespace()
        var text = trimmed.lowercased()
        if trimmed.hasSuffix("bps") {
            text.removeLast(3)
            text += "bit"
        } else if text.hasSuffix("/s") {
            text.removeLast(2)
        } else if text.hasSuffix("ps") {
            text.removeLast(2)
        }
        for (suffix, factor) in [("gbit", 1e9), ("mbit", 1e6), ("kbit", 1e3)] where text.hasSuffix(suffix) {
            guard let value = Double(text.dropLast(suffix.count).trimmingWhitespace()), value > 0 else { break }
            // As in parse: converting a Double at or above 2^63 (or infinity) to Int64 traps.
            let bytes = value * factor / 8
            guard bytes < 9e18 else { throw FerryError(.invalidArgument, "invalid rate '\(input.prefix(40))': too large") }
            // Below 1 byte/s it would truncate to 0, which RateLimiter refuses with a trap.
            guard bytes >= 1 else { throw FerryError(.invalidArgument, "invalid rate '\(input.prefix(40))': below 1 byte per second") }
            return Int64(bytes)
        }
        // A bare number is refused: read as bytes per second, `--max-download-rate 5` meant as
        // 5 MB/s would crawl. `5/s` or `5B/s` says bytes.
        if text == trimmed.lowercased(), text.allSatisfy({ $0.isNumber || $0 == "." }) {
            throw FerryError(.invalidArgument, "invalid rate '\(input.prefix(40))': give a unit, e.g. \(trimmed)MiB/s or \(trimmed)Mbit/s (\(trimmed)B/s for bytes)")
        }
        let bytes = try parse(text, shown: input, as: "rate", example: "10MiB/s, or bits, 100Mbit/s")
        guard bytes > 0 else { throw FerryError(.invalidArgument, "invalid rate '\(input.prefix(40))': must be above zero") }
        return bytes
    }

    /// `1536` → `1.5 KiB`.
    public static func format(_ bytes: Int64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var value = Double(bytes)
        var unit = 0
        while value >= 1024 && unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        if unit == 0 { return "\(bytes) B" }
        let rounded = (value * 10).rounded() / 10
        return "\(rounded) \(units[unit])"
    }
}
