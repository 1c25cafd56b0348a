import FerryPolicy
import Testing

@Suite("RetryPolicy")
struct RetryPolicyTests {
    let policy = RetryPolicy()  // 6 attempts, 0.5 s base, 30 s cap, 120 s Retry-After cap

    @Test("equal jitter: between half and all of the exponential ceiling", arguments: [
        (1, Duration.milliseconds(500)),
        (2, .seconds(1)),
        (3, .seconds(2)),
        (4, .seconds(4)),
        (5, .seconds(8)),
    ])
    func backoff(_ attempt: Int, _ ceiling: Duration) throws {
        #expect(policy.delay(beforeRetry: attempt, random: 0) == ceiling / 2)
        #expect(policy.delay(beforeRetry: attempt, random: 1) == ceiling)
        let middle = try #require(policy.delay(beforeRetry: attempt, random: 0.5))
        #expect(middle > ceiling / 2 && middle < ceiling)
    }

    @Test func delayIsCappedAtMaxDelay() {
        let policy = RetryPolicy(maxAttempts: 100)
        #expect(policy.delay(beforeRetry: 7, random: 1) == .seconds(30))  // 0.5 s × 64 = 32 s → 30 s
        #expect(policy.delay(beforeRetry: 60, random: 1) == .seconds(30))  // no overflow for huge attempts
        #expect(policy.delay(beforeRetry: 60, random: 0) == .seconds(15))
    }

    @Test func randomOutsideTheUnitIntervalIsClamped() {
        #expect(policy.delay(beforeRetry: 2, random: 7) == .seconds(1))
        #expect(policy.delay(beforeRetry: 2, random: -3) == .milliseconds(500))
    }

    @Test func retryAfterWinsOverTheComputedDelay() {
        #expect(policy.delay(beforeRetry: 1, retryAfter: .seconds(42), random: 1) == .seconds(42))
        #expect(policy.delay(beforeRetry: 1, retryAfter: .seconds(120), random: 0) == .seconds(120))
        #expect(policy.delay(beforeRetry: 1, retryAfter: .zero, random: 1) == .zero)
        #expect(policy.delay(beforeRetry: 1, retryAfter: .seconds(-5), random: 1) == .zero)
    }

    @Test func retryAfterBeyondTheCapGivesUp() {
        #expect(policy.delay(beforeRetry: 1, retryAfter: .seconds(121), random: 0) == nil)
    }

    @Test func attemptsExhaustedGiveNil() {
        #expect(policy.delay(beforeRetry: 5, random: 0) != nil)
        #expect(policy.delay(beforeRetry: 6, random: 0) == nil)
        #expect(policy.delay(beforeRetry: 6, retryAfter: .seconds(1), random: 0) == nil)
        #expect(RetryPolicy(maxAttempts: 1).delay(beforeRetry: 1, random: 0) == nil)
    }

    @Test func delaysGrowMonotonically() throws {
        let policy = RetryPolicy(maxAttempts: 20)
        var previous = Duration.zero
        for attempt in 1..<20 {
            let delay = try #require(policy.delay(beforeRetry: attempt, random: 1))
            #expect(delay >= previous)
            #expect(delay <= policy.maxDelay)
            previous = delay
        }
    }
}
