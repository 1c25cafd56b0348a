import FerryPolicy
import Testing

/// The limiter's contract, checked from the durations it returns: tokens refill at `rate` with
/// elapsed time, so after reserving `total` bytes the last wait is at most `(total - burst) / rate`
/// and at least that minus what the elapsed time (measured around the calls) could have refilled.
@Suite("RateLimiter")
struct RateLimiterTests {
    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    @Test func reservationsWithinTheBurstAreFree() {
        let limiter = RateLimiter(bytesPerSecond: 1000, burst: 5000)
        #expect(limiter.reserve(2000) == .zero)
        #expect(limiter.reserve(3000) == .zero)
    }

    @Test func defaultBurstIsAQuarterSecondButAtLeast64KiB() {
        #expect(RateLimiter(bytesPerSecond: 1000).burst == 64 * 1024)
        #expect(RateLimiter(bytesPerSecond: 4 * 1024 * 1024).burst == 1024 * 1024)
    }

    @Test func sequentialReservationsAccumulateDebt() {
        let rate: Int64 = 1000
        let burst: Int64 = 1000
        let clock = ContinuousClock()
        let start = clock.now
        let limiter = RateLimiter(bytesPerSecond: rate, burst: burst)
        var waits: [Duration] = []
        for _ in 0..<10 { waits.append(limiter.reserve(1000)) }
        let elapsed = Self.seconds(clock.now - start)

        #expect(waits[0] == .zero)
        let owed = Double(10 * 1000 - burst) / Double(rate)  // 9 s of debt
        let last = Self.seconds(waits[9])
        #expect(last <= owed + 1e-6)
        #expect(last >= owed - elapsed - 1e-6)
        // Each further reservation adds a second of waiting, less what elapsed time refilled.
        for index in 1..<9 {
            let step = Self.seconds(waits[index + 1]) - Self.seconds(waits[index])
            #expect(step <= 1.0 + 1e-6)
            #expect(step >= 1.0 - elapsed - 1e-6)
        }
    }

    @Test func concurrentReservationsShareOneBudget() async {
        let rate: Int64 = 10_000
        let burst: Int64 = 10_000
        let clock = ContinuousClock()
        let start = clock.now
        let limiter = RateLimiter(bytesPerSecond: rate, burst: burst)
        let waits = await withTaskGroup(of: [Duration].self) { group in
            for _ in 0..<8 {
                group.addTask { (0..<25).map { _ in limiter.reserve(1000) } }
            }
            return await group.reduce(into: [Duration]()) { $0 += $1 }
        }
        let elapsed = Self.seconds(clock.now - start)
        #expect(waits.count == 200)
        // 200 000 bytes at 10 000 B/s with a 10 000-byte burst: someone waits ~19 s.
        let owed = Double(200 * 1000 - burst) / Double(rate)
        let longest = Self.seconds(waits.max() ?? .zero)
        #expect(longest <= owed + 1e-6)
        #expect(longest >= owed - elapsed - 1e-6)
        // No reservation is ever told to wait longer than the whole debt.
        #expect(waits.allSatisfy { Self.seconds($0) <= owed + 1e-6 })
    }

    @Test func aReservationLargerThanTheBurstWaitsForTheExcess() {
        let clock = ContinuousClock()
        let start = clock.now
        let limiter = RateLimiter(bytesPerSecond: 1_000_000, burst: 100_000)
        let wait = Self.seconds(limiter.reserve(1_100_000))
        let elapsed = Self.seconds(clock.now - start)
        #expect(wait <= 1.0 + 1e-6)
        #expect(wait >= 1.0 - elapsed - 1e-6)
    }
}
