import Foundation

/// Whether a join token still lets a machine join (``JoinTokenLimits/state(at:)``).
public enum JoinTokenState: String, Sendable, Hashable, CaseIterable, WireState {
    case valid
    /// Past its expiry.
    case expired
    /// Every use it was created with has been taken.
    case usedUp = "used-up"
    /// Revoked by an operator (`ferry token revoke`).
    case revoked
}

/// A join token's limits and how much of them is used: the rules the leader applies at every
/// join, pure, with the clock passed in.
public struct JoinTokenLimits: Sendable, Hashable {
    /// Nil: never expires.
    public var expiresAt: Date?
    /// Nil: any number of joins.
    public var maxUses: Int?
    /// Joins made with it so far.
    public var uses: Int
    public var revokedAt: Date?

    public init(expiresAt: Date? = nil, maxUses: Int? = nil, uses: Int = 0, revokedAt: Date? = nil) {
        self.expiresAt = expiresAt
        self.maxUses = maxUses
        self.uses = uses
        self.revokedAt = revokedAt
    }

    /// The token's state at `now`; revoked wins over expired, expired over used up.
    public func state(at now: Date) -> JoinTokenState {
        if revokedAt != nil { return .revoked }
        if let expiresAt, now >= expiresAt { return .expired }
        if let maxUses, uses >= maxUses { return .usedUp }
        return .valid
    }

    /// Joins left; nil when unlimited.
    public var usesLeft: Int? { maxUses.map { max($0 - uses, 0) } }

    /// Takes one use at `now`, or says (`UNAUTHORIZED`, naming the token and what to do) why the
    /// token cannot be used. With `taking: false` (a node repeating a join whose answer it never
    /// received: that join took the use) a used-up token is let through, but not an expired or
    /// revoked one.
    public mutating func use(at now: Date, id: Int64, taking: Bool = true) throws(FerryError) {
        let advice = "create a new one on the leader with `ferry token create`"
        switch state(at: now) {
        case .usedUp where !taking: return
        case .valid: if taking { uses += 1 }
        case .revoked: throw FerryError(.unauthorized, "the join token \(id) was revoked; \(advice)")
        case .expired:
            throw FerryError(.unauthorized, "the join token \(id) expired at \(expiresAt.map { $0.formatted(.iso8601) } ?? "?"); \(advice)")
        case .usedUp:
            throw FerryError(.unauthorized, "the join token \(id) has been used \(uses) time\(uses == 1 ? "" : "s"), all it was made for; \(advice)")
        }
    }
}

/// A duration as operators write it: `90s`, `30m`, `24h`, `7d`, or a sum, `1d12h`; with
/// `bareSeconds` (a join token's `--ttl`, an install's `--deadline`) also `90`. Not for
/// `--node-cert-validity`, whose default is `365d`: a bare `365` there would be seconds.
public enum TimeToLive {
    public static func parse(_ text: String, bareSeconds: Bool = false) throws(FerryError) -> Duration {
        let invalid = FerryError(
            .invalidArgument, "invalid time to live '\(text.prefix(40))': expected e.g. \(bareSeconds ? "90 (seconds), " : "")30m, 24h or 7d")
        let trimmed = text.trimmingWhitespace()
        if bareSeconds, !trimmed.isEmpty, trimmed.allSatisfy({ $0.isASCII && $0.isNumber }) {
            guard trimmed.count <= 9, let seconds = Int64(trimmed), seconds > 0 else { throw invalid }
            return .seconds(seconds)
        }
        var total: Int64 = 0
        var number = ""
        for character in text.trimmingWhitespace() {
            if character.isASCII, character.isNumber {
                number.append(character)
                continue
            }
            let unit: Int64
            switch character {
            case "s": unit = 1
            case "m": unit = 60
            case "h": unit = 3600
            case "d": unit = 86400
            default: throw invalid
            }
            guard number.count <= 9, let value = Int64(number) else { throw invalid }
            total += value * unit
            number = ""
        }
        guard number.isEmpty, total > 0 else { throw invalid }
        return .seconds(total)
    }
}
