import FerryCore
import TOMLKit

/// A daemon's configuration file: TOML, one `key = value` line per setting, keys as the long
/// flags without dashes. Anything the file gets wrong is refused with one line naming the file,
/// the line and the key.
public enum ConfigFile {
    /// The values `text` (the contents of `path`) sets for `options`.
    public static func parse(_ text: String, path: String, options: [ConfigOption]) throws(FerryError) -> [String: ConfigValue] {
        let table: TOMLTable
        do {
            table = try TOMLTable(string: text)
        } catch let error as TOMLParseError {
            throw FerryError(.configuration, "\(path):\(error.source.begin.line): \(error.description)")
        } catch {
            throw FerryError(.configuration, "\(path): \(error)")
        }
        let known = Dictionary(options.map { ($0.key, $0) }, uniquingKeysWith: { first, _ in first })
        var values: [String: ConfigValue] = [:]
        // toml++ iterates in key order: check every key and report the problem on the earliest line.
        var problems: [(line: Int, message: String)] = []
        for (key, node) in table {
            let line = Self.line(ofKey: key, in: text)
            let at = line.map { "\(path):\($0)" } ?? path
            guard let option = known[key] else {
                let hint = nearest(key, in: options.map(\.key)).map { " (did you mean '\($0)'?)" } ?? ""
                problems.append((line ?? 0, "\(at): unknown key '\(key)'\(hint)"))
                continue
            }
            do {
                let value = try Self.value(node, for: option)
                try ConfigMerge.check(value, option)
                values[key] = value
            } catch {
                problems.append((line ?? 0, "\(at): key '\(key)': \(error.message)"))
            }
        }
        if let first = problems.min(by: { $0.line < $1.line }) {
            throw FerryError(.configuration, first.message)
        }
        return values
    }

    static func value(_ node: any TOMLValueConvertible, for option: ConfigOption) throws(FerryError) -> ConfigValue {
        switch option.kind {
        case .string:
            guard let text = node.string else { throw mismatch(node, expected: "a string in quotes") }
            return .string(text)
        case .integer:
            guard node.type == .int, let number = node.int else { throw mismatch(node, expected: "a whole number") }
            return .integer(number)
        case .flag:
            guard let on = node.bool else { throw mismatch(node, expected: "true or false") }
            return .flag(on)
        case .list:
            if let text = node.string { return .list([text]) }
            guard let array = node.array else { throw mismatch(node, expected: "a list of strings, e.g. [\"a\", \"b\"]") }
            var items: [String] = []
            for item in array {
                guard let text = item.string else { throw mismatch(item, expected: "a list of strings, e.g. [\"a\", \"b\"]") }
                items.append(text)
            }
            return .list(items)
        }
    }

    static func mismatch(_ node: any TOMLValueConvertible, expected: String) -> FerryError {
        let type = "\(node.type)"
        return FerryError(.configuration, "expected \(expected), found \(type.first.map { "aeiou".contains($0) } == true ? "an" : "a") \(type)")
    }

    /// The 1-based line where `key` is set (`key = …`, `"key" = …` or a `[key]` table), if found.
    public static func line(ofKey key: String, in text: String) -> Int? {
        var number = 0
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            number += 1
            let trimmed = String(line).trimmingSpaces
            for form in [key, "\"\(key)\"", "'\(key)'"] {
                if trimmed.hasPrefix(form) {
                    let rest = trimmed.dropFirst(form.count).drop(while: { $0 == " " || $0 == "\t" })
                    if rest.hasPrefix("=") || rest.hasPrefix(".") { return number }
                }
                if trimmed.hasPrefix("[\(form)]") || trimmed.hasPrefix("[\(form).") || trimmed.hasPrefix("[[\(form)]]") { return number }
            }
        }
        return nil
    }

    /// The known key closest to `key` when it looks like a typo of one (edit distance at most 2).
    static func nearest(_ key: String, in keys: [String]) -> String? {
        keys.map { ($0, distance(key, $0)) }.filter { $0.1 <= 2 }.min(by: { $0.1 < $1.1 })?.0
    }

    static func distance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        guard !a.isEmpty, !b.isEmpty else { return max(a.count, b.count) }
        var previous = Array(0...b.count)
        for i in 1...a.count {
            var current = [i] + Array(repeating: 0, count: b.count)
            for j in 1...b.count {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            previous = current
        }
        return previous[b.count]
    }
}
