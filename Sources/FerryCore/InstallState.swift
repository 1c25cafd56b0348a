/// Where an install stands as a whole.
public enum InstallState: String, Sendable, Hashable, CaseIterable, WireState {
    case running
    /// Every target done.
    case done
    /// Every target finished, at least one failed.
    case failed
}
