/// Where an image fetch stands.
public enum ImageState: String, Sendable, Hashable, CaseIterable, WireState {
    /// Asked for; not yet resolved.
    case pending
    /// Manifests resolved; blobs being fetched.
    case fetching
    /// Every blob present and verified.
    case present
    /// Gave up; `errorCode`/`errorMessage` say why.
    case failed
    /// Dropped by garbage collection (retention); the row stays because installs name it.
    /// Asked for again, it goes back to `pending`.
    case removed

    public var isFinished: Bool { self == .present || self == .failed || self == .removed }
}
