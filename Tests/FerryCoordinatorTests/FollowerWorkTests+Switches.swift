import FerryCore
import FerryMesh
import FerryPolicy
import Foundation
import Testing

@testable import FerryCoordinator

extension FollowerWorkTests {
    static func switchItem(_ rollout: String, _ action: SwitchWorkItem.Action = .switch) -> SwitchWorkItem {
        SwitchWorkItem(
            rolloutID: rollout, action: action, image: "r/app:2", repository: "r/app", order: .stopFirst,
            minHealthyMilliseconds: 1000, healthyDeadlineMilliseconds: 5000)
    }

    @Test("rollout work runs once per key, is never stopped when unlisted, and is not rerun while still listed")
    func switchesRunOnce() {
        var work = FollowerWork()
        let a = Self.switchItem("ra"), b = Self.switchItem("rb")
        #expect(work.answered(switches: [a, b, a]).start == [a, b], "a key listed twice starts once")
        #expect(work.knownSwitches == ["ra:switch", "rb:switch"])
        #expect(work.answered(switches: [a, b]) == .init(), "running: not started again")
        // The leader stops listing b while it runs: it is not stopped, and not rerun.
        #expect(work.answered(switches: [a]) == .init())
        #expect(work.runningSwitches == ["ra:switch", "rb:switch"])
        work.switchEnded(a.key)
        #expect(work.answered(switches: [a]) == .init(), "done here and still listed: not rerun")
        // The same rollout's restore is other work.
        let restore = Self.switchItem("ra", .restore)
        #expect(work.answered(switches: [a, restore]).start == [restore])
        work.switchEnded(b.key)
        #expect(work.finishedSwitches == ["ra:switch"], "b ended after the leader stopped listing it: forgotten at once")
        work.switchEnded(restore.key)
        #expect(work.answered(switches: []) == .init())
        #expect(work.finishedSwitches.isEmpty, "forgotten once the leader no longer lists them")
        #expect(work.knownSwitches.isEmpty)
        // Ending a key that never ran changes nothing.
        work.switchEnded("nothing:switch")
        #expect(work.finishedSwitches.isEmpty)
    }

    @Test("work that ends after the leader stopped listing it runs again when listed again (a second rollback's restore)")
    func unlistedWorkRunsAgain() {
        var work = FollowerWork()
        let restore = Self.switchItem("ra", .restore)
        #expect(work.answered(switches: [restore]).start == [restore])
        // The restore failed and was reported; the answer that no longer lists it came first.
        #expect(work.answered(switches: []) == .init())
        work.switchEnded(restore.key)
        // `ferry rollout rollback` again: the same key, before any other answer.
        #expect(work.answered(switches: [restore]).start == [restore])
    }

    static func halt(_ rollout: String) -> SwitchWorkItem {
        var item = switchItem(rollout)
        item.halt = true
        return item
    }

    @Test("a halt (the rollout aborted) stops the switch running here and runs nothing; with none running or done here, it runs to report")
    func haltStopsTheRunningSwitch() {
        var work = FollowerWork()
        let a = Self.switchItem("ra")
        #expect(work.answered(switches: [a]).start == [a])
        let halt = Self.halt("ra")
        #expect(halt.key == "ra:switch:halt" && halt.haltedKey == "ra:switch")
        #expect(work.answered(switches: [halt]) == .init(halt: ["ra:switch"]), "the running switch is halted, nothing started")
        #expect(work.answered(switches: [halt]) == .init(), "told once")
        #expect(work.knownSwitches == ["ra:switch:halt"], "the poll waits on the halt's own key")
        work.switchEnded(a.key)
        #expect(work.answered(switches: [halt]) == .init(), "done here: its report says it was halted")
        #expect(work.answered(switches: [halt]) == .init(), "still done here at the next answer")
        // A node that restarted knows nothing of the switch: the halt runs, to report.
        var restarted = FollowerWork()
        #expect(restarted.answered(switches: [halt]).start == [halt])
        #expect(restarted.answered(switches: [halt]) == .init(), "once")
    }

    @Test("switch work keys go on the wire as ROLLOUT:ACTION, and an old leader's answer has none")
    func switchWire() throws {
        #expect(Self.switchItem("r1", .forget).key == "r1:forget")
        let old = try FerryJSON.decoder().decode(WorkResponse.self, from: Data(#"{"items":[]}"#.utf8))
        #expect(old.switches == nil)
        let report = SwitchReport(action: .switch, outcome: .noContainers)
        let text = String(decoding: try FerryJSON.encoder().encode(report), as: UTF8.self)
        #expect(text.contains(#""outcome":"no-containers""#))
    }
}
