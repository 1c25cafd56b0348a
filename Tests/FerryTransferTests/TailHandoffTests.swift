import Testing

@testable import FerryTransfer

/// When a download that holds the link lets the next one start.
@Suite("TailHandoff")
struct TailHandoffTests {
    let t0 = ContinuousClock.now
    static let mib: Int64 = 1024 * 1024

    /// What `handoff` says for each record (bytes held, seconds after t0).
    func said(_ handoff: inout TailHandoff, _ records: [(Int64, Double)]) -> [Bool] {
        records.map { handoff.record($0.0, at: t0 + .seconds($0.1)) }
    }

    @Test("hands off once, when the rest would take at most the lead at the rate so far")
    func atTheTail() {
        let mib = Self.mib
        var handoff = TailHandoff(size: 100 * mib, lead: .seconds(1), window: .milliseconds(500))
        // 10 MiB/s throughout: 80 MiB left is 8 s, 15 MiB 1.5 s, 10.5 MiB more than the lead,
        // 10 MiB exactly it; then said once only.
        let records: [(Int64, Double)] = [(0, 0), (20 * mib, 2), (85 * mib, 8.5), (89 * mib + mib / 2, 8.95), (90 * mib, 9), (95 * mib, 9.5), (100 * mib, 10)]
        #expect(said(&handoff, records) == [false, false, false, false, true, false, false])
        #expect(handoff.handedOff)
    }

    @Test("the rate is measured from the first record, not from zero: a resumed download is not taken as fast")
    func resumed() {
        let mib = Self.mib
        var handoff = TailHandoff(size: 100 * mib, lead: .seconds(1), window: .milliseconds(500))
        // From 90 MiB at 1 MiB/s: 9 MiB left is 9 s, 2 MiB 2 s, 1 MiB the lead.
        #expect(said(&handoff, [(90 * mib, 0), (91 * mib, 1), (98 * mib, 8), (99 * mib, 9)]) == [false, false, false, true])
    }

    @Test("nothing before the window has passed, nor while no byte arrives")
    func windowAndStall() {
        let mib = Self.mib
        var handoff = TailHandoff(size: 10 * mib, lead: .seconds(1), window: .milliseconds(500))
        // 9 MiB in 0.1 s would say the rest takes 11 ms: too short a window to trust.
        #expect(said(&handoff, [(0, 0), (9 * mib, 0.1)]) == [false, false])
        var stalled = TailHandoff(size: 10 * mib, lead: .seconds(1), window: .milliseconds(500))
        #expect(said(&stalled, [(5 * mib, 0), (5 * mib, 30)]) == [false, false])
    }

    @Test("a download that holds every byte hands off at once, even at its first record")
    func complete() {
        var handoff = TailHandoff(size: 10 * Self.mib)
        #expect(said(&handoff, [(10 * Self.mib, 0)]) == [true])
        var empty = TailHandoff(size: 0)
        #expect(said(&empty, [(0, 0)]) == [true])
    }

    @Test("a restart measures anew and may hand off again")
    func restart() {
        let mib = Self.mib
        var handoff = TailHandoff(size: 10 * mib, lead: .seconds(1), window: .milliseconds(500))
        #expect(said(&handoff, [(0, 0), (9 * mib, 1)]) == [false, true])
        handoff.restart()
        #expect(!handoff.handedOff)
        // The first record after the restart is the new start, not a rate from the old one:
        // 1 MiB/s leaves 9 s; then 9.5 MiB in 1.5 s leaves well under the lead.
        #expect(said(&handoff, [(0, 2), (1 * mib, 3), (9 * mib + mib / 2, 3.5)]) == [false, false, true])
    }

    @Test("fewer bytes than at the start (a server that ignored Range) measure the rate anew")
    func startedOver() {
        let mib = Self.mib
        var handoff = TailHandoff(size: 10 * mib, lead: .seconds(1), window: .milliseconds(500))
        // From 8 MiB back to 0: without the restart, 1 MiB in 1 s from 8 MiB would look like a
        // rate over a negative count. From 0 at 1 MiB/s, 8 MiB left is 8 s; 9 MiB in 9 s, 1 s.
        #expect(said(&handoff, [(8 * mib, 0), (0, 1), (1 * mib, 2), (2 * mib, 3), (9 * mib, 10)]) == [false, false, false, false, true])
    }

    @Test("sizes near Int64.max do not overflow the estimate")
    func huge() {
        var handoff = TailHandoff(size: .max, lead: .seconds(1), window: .milliseconds(500))
        #expect(said(&handoff, [(0, 0), (.max / 4, 1), (.max - .max / 8, 2)]) == [false, false, true])
    }
}
