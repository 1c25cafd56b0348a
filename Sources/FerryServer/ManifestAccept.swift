import Foundation

/// The manifest types a request's `Accept` header lists (media ranges and parameters dropped);
/// nil when it takes anything: no `Accept`, or a wildcard among its types.
public struct ManifestAccept: Sendable, Hashable {
    let types: Set<String>

    /// The `Accept` header values of a request (each may list several types).
    public init?(_ values: [String]) {
        var types: Set<String> = []
        for value in values {
            for item in value.split(separator: ",") {
                let type = item.split(separator: ";", maxSplits: 1).first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() } ?? ""
                guard !type.isEmpty else { continue }
                if type == "*/*" || type.hasSuffix("/*") { return nil }
                types.insert(type)
            }
        }
        guard !types.isEmpty else { return nil }
        self.types = types
    }

    /// Whether `mediaType` is among the listed types.
    public func takes(_ mediaType: String) -> Bool { types.contains(mediaType.lowercased()) }
}
