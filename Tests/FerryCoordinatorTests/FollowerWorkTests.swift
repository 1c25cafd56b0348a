import FerryCore
import FerryMesh
import Synchronization
import Testing

@testable import FerryCoordinator

/// Which targets a follower runs and stops, from the leader's work answers.
@Suite("FollowerWork")
struct FollowerWorkTests {
    static func item(_ id: Int64) -> WorkItem {
        WorkItem(
            targetID: id, installID: 1, reference: "r/app:\(id)", registry: "r", repository: "app",
            manifestDigest: Digest.sha256(of: [UInt8(id)]), size: 1, state: .waiting)
    }

    @Test("new targets start once; a running target the leader stops listing is stopped; known is the last answer")
    func startAndStop() {
        var work = FollowerWork()
        #expect(work.answered([Self.item(1), Self.item(2)]) == .init(start: [Self.item(1), Self.item(2)]))
        #expect(work.known == [1, 2])
        #expect(work.answered([Self.item(2), Self.item(1)]) == .init())
        // Target 1 is over at the leader (a deadline): stopped, once.
        #expect(work.answered([Self.item(2), Self.item(3)]) == .init(start: [Self.item(3)], stop: [1]))
        #expect(work.answered([Self.item(2), Self.item(3)]) == .init())
        #expect(work.known == [2, 3])
        #expect(work.ended(1) == nil)
        #expect(work.running == [2, 3])
        // Listed again (it was stopped, not finished here): it starts again.
        #expect(work.answered([Self.item(1), Self.item(2), Self.item(3)]) == .init(start: [Self.item(1)]))
    }

    /// A second install had the image's tag resolved again, and it had moved: the leader lists
    /// the running target with the new digest.
    @Test("a running target listed with another manifest digest is stopped and run again with it once ended; unlisted meanwhile, it is not")
    func digestMoved() {
        var work = FollowerWork()
        _ = work.answered([Self.item(1), Self.item(2)])
        var moved = Self.item(1)
        moved.manifestDigest = Digest.sha256(of: [0xFF])
        #expect(work.answered([moved, Self.item(2)]) == .init(stop: [1], moved: [1]))
        #expect(work.answered([moved, Self.item(2)]) == .init(), "stopped once")
        #expect(work.ended(1) == moved, "run again at once, with the new digest")
        #expect(work.running == [1, 2] && work.digests[1] == moved.manifestDigest)
        #expect(work.answered([moved, Self.item(2)]) == .init(), "the same digest again: nothing to do")

        // Moved again, then no longer listed while it stops: it ends for good.
        var again = moved
        again.manifestDigest = Digest.sha256(of: [0xFE])
        #expect(work.answered([again, Self.item(2)]) == .init(stop: [1], moved: [1]))
        #expect(work.answered([Self.item(2)]) == .init())
        #expect(work.ended(1) == nil)
        #expect(work.running == [2] && work.digests[1] == nil)

        // Stopped as no longer listed, listed again before it ended: run again once ended.
        #expect(work.answered([]) == .init(stop: [2]))
        #expect(work.answered([Self.item(2)]) == .init())
        #expect(work.ended(2) == Self.item(2))
        #expect(work.running == [2])

        // The follower stopping: no run again.
        #expect(work.answered([moved]) == .init(start: [moved], stop: [2]))
        #expect(work.answered([moved, Self.item(2)]) == .init())
        #expect(work.ended(2, mayRestart: false) == nil)
        #expect(work.running == [1])
    }

    @Test("a target that ended by itself is not started again by an answer computed before the leader heard of it")
    func finishedHere() {
        var work = FollowerWork()
        _ = work.answered([Self.item(5)])
        #expect(work.ended(5) == nil)
        #expect(work.answered([Self.item(5)]) == .init())
        #expect(work.answered([]) == .init())
        #expect(work.finished.isEmpty, "forgotten once the leader no longer lists it")
        #expect(work.known.isEmpty)
    }

    @Test("a stop signal cancels the work it runs, at once, in whatever it awaits; a stop before the run ends it at once")
    func stopSignal() async throws {
        let stop = StopSignal()
        let reached = Mutex(false)
        let cancelled = Mutex(false)
        let run = Task {
            await stop.run {
                reached.withLock { $0 = true }
                do {
                    try await Task.sleep(for: .seconds(3600))
                } catch {
                    cancelled.withLock { $0 = true }
                }
            }
        }
        while !reached.withLock({ $0 }) { await Task.yield() }
        stop.stop()
        await run.value
        #expect(cancelled.withLock { $0 })

        let early = StopSignal()
        early.stop()
        await early.run {
            try? await Task.sleep(for: .seconds(3600))
        }
        #expect(early.isStopped)
    }

    @Test("a work loop that finishes by itself ends its run without a stop")
    func finishesAlone() async {
        let stop = StopSignal()
        let done = Mutex(false)
        await stop.run { done.withLock { $0 = true } }
        #expect(done.withLock { $0 })
    }
}
