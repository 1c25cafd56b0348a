import FerryCore

extension SimulationConfiguration {
    /// Parses a duration as `ferry-sim` takes it: `0.5ms`, `20 ms`, `1.5s`, `250us`, `0`; a bare
    /// number is seconds. Returns seconds.
    public static func parseDuration(_ input: String) throws(FerryError) -> Double {
        let text = input.trimmingWhitespace().lowercased()
        let numberEnd = text.firstIndex { !($0.isNumber || $0 == ".") } ?? text.endIndex
        guard let value = Double(text[..<numberEnd]), value >= 0, value.isFinite else {
            throw FerryError(.invalidArgument, "invalid duration '\(input.prefix(40))': expected a number with a unit, e.g. 0.5ms")
        }
        let scale: Double
        switch text[numberEnd...].trimmingWhitespace() {
        case "", "s", "sec": scale = 1
        case "ms": scale = 1e-3
        case "us", "µs": scale = 1e-6
        case "ns": scale = 1e-9
        case "m", "min": scale = 60
        case let unit:
            throw FerryError(.invalidArgument, "invalid duration '\(input.prefix(40))': unknown unit '\(unit)' (use s, ms, us)")
        }
        return value * scale
    }

    /// Parses a comma-separated list of node counts, `10,100,1000` (`_` and `k` allowed: `10_000`, `10k`).
    public static func parseNodeCounts(_ input: String) throws(FerryError) -> [Int] {
        var counts: [Int] = []
        for item in input.split(separator: ",") {
            var text = item.trimmingWhitespace().lowercased().filter { $0 != "_" }
            var factor = 1
            if text.hasSuffix("k") {
                text.removeLast()
                factor = 1000
            }
            guard let count = Int(text), count >= 1, count <= 1_000_000 / factor else {
                throw FerryError(.invalidArgument, "invalid node count '\(item.prefix(20))': expected a whole number from 1 to 1,000,000")
            }
            counts.append(count * factor)
        }
        guard !counts.isEmpty else { throw FerryError(.invalidArgument, "no node counts given, e.g. --nodes 10,100,1000") }
        return counts
    }
}
