import FerryCore
import Foundation

/// How the leader decides what an image reference resolves to under a ``PullPolicy``: ask the
/// upstream registry, or use what it already holds. Pure: the fetch worker does the I/O.
public struct TagResolution: Sendable, Hashable {
    /// What the leader holds for a reference: the digest its last complete fetch resolved to
    /// (for a digest reference, the digest itself) whose manifest is stored.
    public struct Held: Sendable, Hashable {
        public var digest: Digest
        /// When that fetch completed; nil when not known.
        public var fetchedAt: Date?

        public init(digest: Digest, fetchedAt: Date?) {
            self.digest = digest
            self.fetchedAt = fetchedAt
        }
    }

    /// The next thing to do.
    public enum Step: Sendable, Hashable {
        /// Resolve the reference upstream.
        case askUpstream
        /// Use the held digest without asking upstream.
        case useHeld(Digest)
        /// Use the held digest because the upstream could not answer; `warning` says so.
        case fallBack(Digest, warning: String)
        /// Give up with this error.
        case fail(FerryError)
    }

    public var policy: PullPolicy
    /// The reference as asked, for messages.
    public var reference: ImageReference
    public var held: Held?

    public init(policy: PullPolicy, reference: ImageReference, held: Held?) {
        self.policy = policy
        self.reference = reference
        self.held = held
    }

    /// Before any request: a digest reference the leader holds, or a tag it holds under
    /// `missing`, never needs the upstream.
    public var first: Step {
        guard let held else { return .askUpstream }
        if reference.digest != nil || policy == .missing { return .useHeld(held.digest) }
        return .askUpstream
    }

    /// After resolving upstream failed with `error`: fall back to the held digest only under
    /// `fallback`, and only when the upstream gave no answer about the image.
    public func afterUpstreamFailure(_ error: FerryError) -> Step {
        guard policy == .fallback, let held, Self.upstreamGaveNoAnswer(error) else { return .fail(error) }
        let when = held.fetchedAt.map { " fetched \($0.formatted(.iso8601))" } ?? ""
        return .fallBack(
            held.digest,
            warning: "upstream did not answer for \(reference) (\(error.message)); using the held \(held.digest)\(when)")
    }

    /// Whether `error` means the upstream could not be asked: unreachable, a server error (5xx)
    /// or throttling after the retries. A refusal (401, 403), a "not found" (404) or a bad
    /// manifest is an answer.
    public static func upstreamGaveNoAnswer(_ error: FerryError) -> Bool {
        switch error.code {
        case .upstreamUnreachable, .upstreamError, .tooManyRequests: true
        default: false
        }
    }
}
