import Foundation

/// The manifest types a request's `Accept` header takes (parameters dropped): those it lists,
/// or any with a wildcard, less those with weight `q=0`, which RFC 9110 §12.4.2 makes "not
/// acceptable". Nil when it takes anything: no `Accept`, or a wildcard and no refusal.
public struct ManifestAccept: Sendable, Hashable {
    /// The types listed; nil: any type (a wildcard, or only refusals listed).
    let types: Set<String>?
    /// The types listed with `q=0`.
    let refused: Set<String>

    /// The `Accept` header values of a request (each may list several types).
    public init?(_ values: [String]) {
        var types: Set<String> = []
        var refused: Set<String> = []
        var wildcard = false
        for value in values {
            for item in value.split(separator: ",") {
                let parts = item.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
                guard let type = parts.first, !type.isEmpty else { continue }
                if parts.dropFirst().contains(where: Self.isZeroWeight) {
                    refused.insert(type)
                } else if type == "*/*" || type.hasSuffix("/*") {
                    wildcard = true
                } else {
                    types.insert(type)
                }
            }
        }
        if refused.isEmpty, wildcard || types.isEmpty { return nil }
        self.types = wildcard || types.isEmpty ? nil : types
        self.refused = refused
    }

    /// `q=0`, `q=0.0`, `q=0.000`: a weight of zero.
    static func isZeroWeight(_ parameter: String) -> Bool {
        let pair = parameter.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
        guard pair.count == 2, pair[0] == "q", let weight = Double(pair[1]) else { return false }
        return weight == 0
    }

    /// Whether `mediaType` is acceptable.
    public func takes(_ mediaType: String) -> Bool {
        let type = mediaType.lowercased()
        return !refused.contains(type) && (types?.contains(type) ?? true)
    }
}
