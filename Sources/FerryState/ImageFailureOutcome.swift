/// What recording an image's failure did to its install targets
/// (``FerryDatabase/markImageFailed(imageID:error:targetError:)``).
public struct ImageFailureOutcome: Sendable, Hashable {
    /// Unfinished targets failed with the image.
    public var failed: Int
    /// Unfinished targets left to go on with the digests the leader holds: they had a resolution
    /// before the one that failed.
    public var spared: Int

    public init(failed: Int, spared: Int) {
        self.failed = failed
        self.spared = spared
    }
}
