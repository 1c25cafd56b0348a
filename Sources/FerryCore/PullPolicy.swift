/// When the leader asks the upstream registry what a tag points at (`ferry install|fetch --pull`).
public enum PullPolicy: String, Sendable, Hashable, CaseIterable, WireState {
    /// Resolve the tag upstream; when the upstream cannot be reached or fails (5xx, 429) after the
    /// retries, use the digest the leader holds for the tag, with a warning. A refusal or a
    /// "not found" (401, 403, 404) is an answer and is never replaced by the held digest.
    case fallback
    /// Never ask upstream about a tag the leader holds; resolve only tags it does not hold.
    case missing
    /// Always resolve upstream; fail when the upstream cannot answer.
    case always

    /// `fallback`: what a request naming no policy gets.
    public static let `default` = PullPolicy.fallback
}
