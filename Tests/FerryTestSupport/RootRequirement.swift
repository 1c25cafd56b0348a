import Foundation
import Testing

/// Suites and tests that need root: a private `dockerd`, mounts, network namespaces.
///
/// As root they run. Not as root they are skipped with the reason on a developer's machine, but
/// under `CI=true` they fail with it: CI runs as root, so a skip there would only hide that they
/// never ran. Use the ``Testing/Trait/requiresRoot(_:sourceLocation:)`` trait.
public enum RootRequirement {
    /// Why a suite did not run: thrown (so recorded as its failure) when not root under `CI=true`.
    public struct NotRoot: Error, CustomStringConvertible {
        public var description: String
    }

    /// Whether the environment says this is CI (`CI=true`, as most CI services set it).
    public static var isCI: Bool { ProcessInfo.processInfo.environment["CI"] == "true" }

    /// The reason given, skipped or failed: what needs root, and that CI runs as root.
    public static func message(_ needs: String) -> String { "this suite needs root (\(needs)); CI runs as root" }

    /// Whether to run: `true` as root, `false` (skip) when not root, and throws ``NotRoot`` when not
    /// root under CI.
    public static func check(_ needs: String, isRoot: Bool = RepositoryLayout.isRoot, isCI: Bool = RootRequirement.isCI) throws -> Bool {
        if isRoot { return true }
        if isCI { throw NotRoot(description: message(needs)) }
        return false
    }
}

extension Trait where Self == ConditionTrait {
    /// Runs the suite or test as root; skips it when not root, or fails it when not root under
    /// `CI=true` (see ``RootRequirement``). `needs` says what needs root.
    public static func requiresRoot(_ needs: String = "dockerd, namespaces", sourceLocation: SourceLocation = #_sourceLocation) -> Self {
        .enabled(Comment(rawValue: RootRequirement.message(needs)), sourceLocation: sourceLocation) { try RootRequirement.check(needs) }
    }
}
