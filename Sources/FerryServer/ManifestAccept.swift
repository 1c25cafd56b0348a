import Foundation

/// What a request's `Accept` header takes, for manifests: each media type or range listed, with
/// parameters dropped but the weight `q=0`, which RFC 9110 §12.4.2 makes "not acceptable". The most
/// specific entry matching a type decides (`type/subtype`, then `type/*`, then `*/*`); a type no
/// entry matches is acceptable only when the header lists nothing acceptable (only refusals).
/// Nil when it takes anything: no `Accept`, or an acceptable wildcard and no refusal (as before
/// weights were read, and as every client seen sends them).
public struct ManifestAccept: Sendable, Hashable {
    /// Media types and ranges (`type/*`, `*/*`), lower case → acceptable (false: weight 0).
    let entries: [String: Bool]

    /// The `Accept` header values of a request (each may list several types).
    public init?(_ values: [String]) {
        var entries: [String: Bool] = [:]
        for value in values {
            for item in value.split(separator: ",") {
                let parts = item.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
                guard let type = parts.first, !type.isEmpty else { continue }
                let acceptable = !parts.dropFirst().contains(where: Self.isZeroWeight)
                // Listed twice: acceptable if either says so.
                entries[type] = (entries[type] ?? false) || acceptable
            }
        }
        let wildcard = entries.contains { $0.value && $0.key.hasSuffix("/*") }
        if entries.isEmpty || (wildcard && !entries.values.contains(false)) { return nil }
        self.entries = entries
    }

    /// A weight parameter of zero, as RFC 9110 writes one: `q=0`, `q=0.`, `q=0.0` to `q=0.000`
    /// (the name in any case). Anything else, malformed included, refuses nothing.
    static func isZeroWeight(_ parameter: String) -> Bool {
        guard parameter.hasPrefix("q=") else { return false }
        let value = parameter.dropFirst(2)
        guard value.first == "0" else { return false }
        let rest = value.dropFirst()
        if rest.isEmpty { return true }
        guard rest.first == ".", rest.count <= 4 else { return false }
        return rest.dropFirst().allSatisfy { $0 == "0" }
    }

    /// Whether `mediaType` is acceptable.
    public func takes(_ mediaType: String) -> Bool {
        let type = mediaType.lowercased()
        let range = (type.split(separator: "/", maxSplits: 1).first.map(String.init) ?? type) + "/*"
        if let decided = entries[type] ?? entries[range] ?? entries["*/*"] { return decided }
        return !entries.values.contains(true)
    }
}
