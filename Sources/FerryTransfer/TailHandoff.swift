/// When a download that holds a link to itself should let the next one start: once the rest of
/// it would take at most ``lead`` at the rate it has had so far. The next download's request,
/// its connection and its first bytes then overlap this one's last moments and its commit,
/// instead of the link idling between the two. A pure state machine: it says so once.
public struct TailHandoff: Sendable {
    /// How long before the estimated end the next download may start.
    public let lead: Duration
    /// The least time the rate is measured over before it is trusted (a first chunk says little).
    public let window: Duration
    private let size: Int64
    private var start: (offset: Int64, at: ContinuousClock.Instant)?
    /// Whether the hand-off has been said.
    public private(set) var handedOff = false

    /// A download of `size` bytes in all.
    public init(size: Int64, lead: Duration = .seconds(1), window: Duration = .milliseconds(500)) {
        self.size = size
        self.lead = lead
        self.window = window
    }

    /// Records that `done` bytes of the blob are held at `now`; true once, the first time the
    /// rest would take at most ``lead`` at the rate since the first record (or nothing is left).
    public mutating func record(_ done: Int64, at now: ContinuousClock.Instant) -> Bool {
        guard !handedOff else { return false }
        if done >= size {
            handedOff = true
            return true
        }
        // Fewer bytes than at the start: the download started over (a server that ignored
        // `Range`); its rate is measured anew.
        if let start, done < start.offset { self.start = nil }
        guard let start else {
            self.start = (done, now)
            return false
        }
        let elapsed = now - start.at
        let received = done - start.offset
        guard elapsed >= window, received > 0 else { return false }
        // Rest ≤ rate × lead, as rest × elapsed ≤ received × lead, in seconds (no integer overflow
        // for any blob size: Doubles).
        let rest = Double(size - done)
        if rest * Self.seconds(elapsed) <= Double(received) * Self.seconds(lead) {
            handedOff = true
            return true
        }
        return false
    }

    /// A download that starts over (an attempt after a failed one) measures its rate anew.
    public mutating func restart() {
        start = nil
        handedOff = false
    }

    private static func seconds(_ duration: Duration) -> Double {
        let (seconds, attoseconds) = duration.components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
