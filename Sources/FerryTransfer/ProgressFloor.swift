/// The least a source must send: at least ``minimum`` bytes in each ``window`` (checked as
/// each chunk arrives). A read timeout alone catches a source that sends nothing; one that sends
/// a byte every few seconds (a lying peer) would hold a download for hours. A pure state machine.
public struct ProgressFloor: Sendable {
    public let window: Duration
    public let minimum: Int64
    private var windowStart: ContinuousClock.Instant
    private var windowBytes: Int64 = 0

    /// A floor whose first window starts `now`.
    public init(window: Duration, minimum: Int64, now: ContinuousClock.Instant = .now) {
        self.window = window
        self.minimum = minimum
        self.windowStart = now
    }

    /// Mesh peers: 32 KiB in each 10 s (3.2 KiB/s), far below any link a node serves a peer over;
    /// the leader (trusted, and as slow as its upstream) has no floor. A node that caps its own
    /// downloads at `receivingAtMost` bytes per second asks less: a sixteenth of that cap.
    public static func peer(receivingAtMost rate: Int64? = nil, now: ContinuousClock.Instant = .now) -> ProgressFloor {
        let window: Duration = .seconds(10)
        var minimum: Int64 = 32 * 1024
        // A sixteenth of the cap over the window, when that is less (and no overflow for a huge cap).
        if let rate, rate < minimum * 16 / 10 { minimum = max(1024, rate * 10 / 16) }
        return ProgressFloor(window: window, minimum: minimum, now: now)
    }

    /// Time the receiver itself held the transfer (its own rate limit, its disk): not the
    /// source's, so the window moves on by it.
    public mutating func exclude(_ held: Duration) {
        if held > .zero { windowStart += held }
    }

    /// Records `bytes` arriving at `now`; false when a whole window has passed with fewer than
    /// ``minimum`` bytes in it (the source is too slow to keep).
    public mutating func record(_ bytes: Int, at now: ContinuousClock.Instant) -> Bool {
        windowBytes += Int64(bytes)
        guard now - windowStart >= window else { return true }
        guard windowBytes >= minimum else { return false }
        windowStart = now
        windowBytes = 0
        return true
    }
}
