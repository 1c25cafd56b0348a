import FerryCore
import Foundation
import Testing

@Suite("Join token rules")
struct JoinTokenRulesTests {
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    @Test func anUnlimitedTokenStaysValidAndCountsItsUses() throws {
        var limits = JoinTokenLimits()
        for _ in 0..<5 { try limits.use(at: t0.addingTimeInterval(86400 * 365), id: 1) }
        #expect(limits.uses == 5)
        #expect(limits.usesLeft == nil)
        #expect(limits.state(at: t0) == .valid)
    }

    @Test func aTokenExpiresAtItsExpiryNotBefore() throws {
        var limits = JoinTokenLimits(expiresAt: t0.addingTimeInterval(3600))
        #expect(limits.state(at: t0.addingTimeInterval(3599)) == .valid)
        #expect(limits.state(at: t0.addingTimeInterval(3600)) == .expired)
        try limits.use(at: t0.addingTimeInterval(3599), id: 7)
        #expect(throws: FerryError.self) { try limits.use(at: t0.addingTimeInterval(3600), id: 7) }
        do {
            try limits.use(at: t0.addingTimeInterval(7200), id: 7)
        } catch {
            #expect(error.code == .unauthorized)
            #expect(error.message.contains("join token 7 expired"), "\(error.message)")
            #expect(error.message.contains("ferry token create"))
        }
        #expect(limits.uses == 1)
    }

    @Test func aTokenIsUsedUpAfterItsUses() throws {
        var limits = JoinTokenLimits(maxUses: 2)
        try limits.use(at: t0, id: 3)
        #expect(limits.usesLeft == 1)
        try limits.use(at: t0, id: 3)
        #expect(limits.usesLeft == 0)
        #expect(limits.state(at: t0) == .usedUp)
        do {
            try limits.use(at: t0, id: 3)
            Issue.record("a used-up token was used")
        } catch {
            #expect(error.code == .unauthorized)
            #expect(error.message.contains("used 2 times"), "\(error.message)")
        }
        #expect(limits.uses == 2)
    }

    @Test func revokedWinsOverExpiredAndUsedUp() {
        let limits = JoinTokenLimits(expiresAt: t0, maxUses: 1, uses: 1, revokedAt: t0)
        #expect(limits.state(at: t0.addingTimeInterval(10)) == .revoked)
        #expect(JoinTokenLimits(expiresAt: t0, maxUses: 1, uses: 1).state(at: t0) == .expired)
        var revoked = limits
        #expect(throws: FerryError.self) { try revoked.use(at: t0.addingTimeInterval(-10), id: 1) }
    }

    // A bare number is seconds, as --deadline takes it (configuration.md).
    @Test(arguments: [("90s", 90), ("30m", 1800), ("24h", 86400), ("7d", 604_800), ("1d12h", 129_600), ("24", 24), (" 90 ", 90)])
    func timeToLiveParses(_ text: String, _ seconds: Int64) throws {
        #expect(try TimeToLive.parse(text, bareSeconds: true) == .seconds(seconds))
    }

    @Test("without bareSeconds (--node-cert-validity, default 365d) a bare number is refused, not taken as seconds")
    func bareNumberIsRefusedWhereDaysAreMeant() throws {
        #expect(throws: FerryError.self) { try TimeToLive.parse("365") }
        #expect(try TimeToLive.parse("365d") == .seconds(365 * 86400))
    }

    @Test(arguments: ["", "0", "h", "0h", "-1h", "1w", "1.5h", "24 h", "9999999999d", "9999999999"])
    func timeToLiveRefusesNonsense(_ text: String) {
        #expect(throws: FerryError.self) { try TimeToLive.parse(text, bareSeconds: true) }
    }

    @Test("a repeated join (taking: false) passes a used-up token without counting a use; an expired or revoked one still fails")
    func aRepeatedJoinTakesNoUse() throws {
        var used = JoinTokenLimits(maxUses: 1, uses: 1)
        #expect(throws: FerryError.self) { try used.use(at: t0, id: 1) }
        try used.use(at: t0, id: 1, taking: false)
        #expect(used.uses == 1)
        var fresh = JoinTokenLimits(maxUses: 2)
        try fresh.use(at: t0, id: 2, taking: false)
        #expect(fresh.uses == 0)
        var expired = JoinTokenLimits(expiresAt: t0, maxUses: 1, uses: 1)
        #expect(throws: FerryError.self) { try expired.use(at: t0, id: 3, taking: false) }
        var revoked = JoinTokenLimits(maxUses: 1, uses: 1, revokedAt: t0)
        #expect(throws: FerryError.self) { try revoked.use(at: t0, id: 4, taking: false) }
    }
}
