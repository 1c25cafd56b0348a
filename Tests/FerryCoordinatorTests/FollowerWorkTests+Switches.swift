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
        #expect(work.answered(switches: [a, b, a]) == [a, b], "a key listed twice starts once")
        #expect(work.knownSwitches == ["ra:switch", "rb:switch"])
        #expect(work.answered(switches: [a, b]).isEmpty, "running: not started again")
        // The leader stops listing b while it runs (an abort): it is not stopped, and not rerun.
        #expect(work.answered(switches: [a]).isEmpty)
        #expect(work.runningSwitches == ["ra:switch", "rb:switch"])
        work.switchEnded(a.key)
        #expect(work.answered(switches: [a]).isEmpty, "done here and still listed: not rerun")
        // The same rollout's restore is other work.
        let restore = Self.switchItem("ra", .restore)
        #expect(work.answered(switches: [a, restore]) == [restore])
        work.switchEnded(b.key)
        work.switchEnded(restore.key)
        #expect(work.answered(switches: []).isEmpty)
        #expect(work.finishedSwitches.isEmpty, "forgotten once the leader no longer lists them")
        #expect(work.knownSwitches.isEmpty)
        // Ending a key that never ran changes nothing.
        work.switchEnded("nothing:switch")
        #expect(work.finishedSwitches.isEmpty)
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
