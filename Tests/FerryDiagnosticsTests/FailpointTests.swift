import Testing

@testable import FerryDiagnostics

@Suite("Failpoint")
struct FailpointTests {
    @Test func armedPointsAndTheirHitsAreParsedFromTheEnvironmentValue() {
        #expect(Failpoint.parse("") == [:])
        #expect(Failpoint.parse("leader-blob-committed") == [.leaderBlobCommitted: 1])
        #expect(Failpoint.parse(" follower-loaded@3 , leader-blob-committed@1") == [.followerLoaded: 3, .leaderBlobCommitted: 1])
    }

    @Test func unknownNamesAndBadCountsArmNothing() {
        #expect(Failpoint.parse("no-such-point,follower-loaded@0,follower-loaded@x,@2,,") == [:])
    }

    @Test func thisProcessHasNoneArmed() {
        // The test runner is not started with FERRY_FAILPOINTS: reaching a point is a no-op.
        #expect(Failpoint.armed.isEmpty)
        for point in Failpoint.allCases { point.reach() }
    }
}
