import FerryCore
import FerryPolicy
import Foundation
import Testing

@Suite("Tag resolution under a pull policy")
struct TagResolutionTests {
    static let tag = try! ImageReference(parsing: "registry.example.com/app:1.0")
    static let digest = try! Digest(parsing: "sha256:" + String(repeating: "ab", count: 32))
    static let pinned = try! ImageReference(parsing: "registry.example.com/app@sha256:" + String(repeating: "ab", count: 32))
    static let held = TagResolution.Held(digest: digest, fetchedAt: Date(timeIntervalSince1970: 1_800_000_000))
    static let unreachable = FerryError(.upstreamUnreachable, "cannot reach registry registry.example.com: connection refused (after 6 attempts)")

    @Test("Nothing held: every policy asks upstream, and a failure fails")
    func nothingHeld() {
        for policy in PullPolicy.allCases {
            let rules = TagResolution(policy: policy, reference: Self.tag, held: nil)
            #expect(rules.first == .askUpstream)
            #expect(rules.afterUpstreamFailure(Self.unreachable) == .fail(Self.unreachable))
        }
    }

    @Test("fallback asks upstream and, when it does not answer, uses the held digest with a warning naming tag, digest and time")
    func fallback() {
        let rules = TagResolution(policy: .fallback, reference: Self.tag, held: Self.held)
        #expect(rules.first == .askUpstream)
        for error in [Self.unreachable, FerryError(.upstreamError, "registry failed with HTTP 503"), FerryError(.tooManyRequests, "429")] {
            guard case .fallBack(let digest, let warning) = rules.afterUpstreamFailure(error) else {
                Issue.record("no fallback for \(error.code)")
                continue
            }
            #expect(digest == Self.digest)
            #expect(warning.contains("registry.example.com/app:1.0"))
            #expect(warning.contains(Self.digest.description))
            #expect(warning.contains("2027-01-15T08:00:00Z"))
            #expect(warning.contains(error.message))
        }
    }

    @Test("401, 403, 404 and a bad manifest are answers: never replaced by the held digest")
    func answersDoNotFallBack() {
        let rules = TagResolution(policy: .fallback, reference: Self.tag, held: Self.held)
        for code: FerryError.Code in [.unauthorized, .denied, .manifestUnknown, .nameUnknown, .manifestInvalid, .noMatchingPlatform, .digestMismatch] {
            let error = FerryError(code, "answer")
            #expect(rules.afterUpstreamFailure(error) == .fail(error), "\(code)")
            #expect(!TagResolution.upstreamGaveNoAnswer(error))
        }
    }

    @Test("missing never asks upstream about a held tag; always never falls back")
    func missingAndAlways() {
        #expect(TagResolution(policy: .missing, reference: Self.tag, held: Self.held).first == .useHeld(Self.digest))
        let always = TagResolution(policy: .always, reference: Self.tag, held: Self.held)
        #expect(always.first == .askUpstream)
        #expect(always.afterUpstreamFailure(Self.unreachable) == .fail(Self.unreachable))
        let missing = TagResolution(policy: .missing, reference: Self.tag, held: nil)
        #expect(missing.afterUpstreamFailure(Self.unreachable) == .fail(Self.unreachable))
    }

    @Test("A digest reference the leader holds never needs the upstream, whatever the policy")
    func heldDigest() {
        for policy in PullPolicy.allCases {
            #expect(TagResolution(policy: policy, reference: Self.pinned, held: Self.held).first == .useHeld(Self.digest))
            #expect(TagResolution(policy: policy, reference: Self.pinned, held: nil).first == .askUpstream)
        }
    }

    @Test("Pull policies decode by name, and an unknown one names the known ones")
    func wire() throws {
        let decoded = try JSONDecoder().decode([PullPolicy].self, from: Data(#"["always","missing","fallback"]"#.utf8))
        #expect(decoded == [.always, .missing, .fallback])
        #expect(PullPolicy.default == .fallback)
        #expect(throws: DecodingError.self) { try JSONDecoder().decode([PullPolicy].self, from: Data(#"["never"]"#.utf8)) }
    }
}
