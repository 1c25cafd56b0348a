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
        work.ended(1)
        #expect(work.running == [2, 3])
        // Listed again (it was stopped, not finished here): it starts again.
        #expect(work.answered([Self.item(1), Self.item(2), Self.item(3)]) == .init(start: [Self.item(1)]))
    }

    @Test("a target that ended by itself is not started again by an answer computed before the leader heard of it")
    func finishedHere() {
        var work = FollowerWork()
        _ = work.answered([Self.item(5)])
        work.ended(5)
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
