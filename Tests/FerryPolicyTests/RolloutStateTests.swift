import FerryCore
import FerryPolicy
import Foundation
import Testing

@Suite("Rollout state machine")
struct RolloutStateTests {
    /// A rollout of three nodes, distributed, ready for its first wave.
    func distributed(_ plan: RolloutPlan, nodes: [String] = ["a", "b", "c"]) -> (RolloutState, [RolloutState.Action]) {
        var state = RolloutState(id: "r1", image: "reg/app:1.1", plan: plan, nodes: nodes)
        #expect(state.start() == [.distribute(nodes)])
        var actions: [RolloutState.Action] = []
        for node in nodes { actions = state.distributed(node, now: 0) }
        return (state, actions)
    }

    static let passed = RolloutState.SwitchResult.passed(containers: 1, downtimeMilliseconds: 100)

    @Test("one node at a time, in order, until every node switched")
    func oneAtATime() {
        let (initial, actions) = distributed(RolloutPlan())
        var state = initial
        #expect(actions == [.switchNodes(["a"])])
        #expect(state.phase == .switching)
        #expect(state.switched("a", Self.passed, now: 1) == [.switchNodes(["b"])])
        #expect(state.switched("b", .noContainers, now: 2) == [.switchNodes(["c"])])
        #expect(state.switched("c", Self.passed, now: 3) == [.finished(.succeeded)])
        #expect(state.phase == .succeeded)
        #expect(state.node("b")?.status == .noContainers)
        #expect(state.node("a")?.downtimeMilliseconds == 100)
    }

    @Test("no container is touched before every node holds the image")
    func distributionFirst() {
        var state = RolloutState(id: "r1", image: "i", plan: RolloutPlan(maxParallel: 3), nodes: ["a", "b"])
        _ = state.start()
        #expect(state.distributed("a", now: 0) == [])
        #expect(state.phase == .distributing)
        #expect(state.distributed("b", now: 0) == [.switchNodes(["a", "b"])])
    }

    @Test("waves of --max-parallel with --delay between them")
    func wavesAndDelay() {
        let (initial, actions) = distributed(RolloutPlan(maxParallel: 2, delayMilliseconds: 500))
        var state = initial
        #expect(state.waves == [["a", "b"], ["c"]])
        #expect(actions == [.switchNodes(["a", "b"])])
        #expect(state.switched("a", Self.passed, now: 10) == [])
        #expect(state.switched("b", Self.passed, now: 20) == [.wakeAt(520)])
        #expect(state.phase == .waiting)
        #expect(state.tick(now: 519) == [])
        #expect(state.tick(now: 520) == [.switchNodes(["c"])])
    }

    @Test("a canary wave, then a timed canary wait")
    func canaryTimed() {
        let (initial, actions) = distributed(RolloutPlan(maxParallel: 2, canary: 1, canaryWaitMilliseconds: 1000))
        var state = initial
        #expect(state.waves == [["a"], ["b", "c"]])
        #expect(actions == [.switchNodes(["a"])])
        #expect(state.switched("a", Self.passed, now: 5) == [.wakeAt(1005)])
        #expect(state.tick(now: 1005) == [.switchNodes(["b", "c"])])
    }

    @Test("a manual canary wait pauses until resume")
    func canaryManual() throws {
        var (state, _) = distributed(RolloutPlan(canary: 1))
        #expect(state.switched("a", Self.passed, now: 5) == [])
        #expect(state.phase == .paused)
        #expect(try state.resume(now: 6) == [.switchNodes(["b"])])
    }

    @Test("a failing canary pauses with --on-failure pause; no other node is touched")
    func canaryFailsPauses() throws {
        var (state, _) = distributed(RolloutPlan(canary: 1, canaryWaitMilliseconds: 0))
        #expect(state.switched("a", .failed("unhealthy"), now: 5) == [])
        #expect(state.phase == .paused)
        #expect(state.node("b")?.status == .distributed && state.node("c")?.status == .distributed)
        #expect(state.pauseReason?.contains("a: unhealthy") == true)
        // rollback: nothing passed, so nothing to restore (the failed node was put back by its own switch).
        #expect(try state.rollback() == [.finished(.rolledBack)])
    }

    @Test("--on-failure rollback restores every switched node in waves")
    func onFailureRollback() {
        var (state, _) = distributed(RolloutPlan(onFailure: .rollback), nodes: ["a", "b", "c", "d"])
        _ = state.switched("a", Self.passed, now: 1)
        _ = state.switched("b", Self.passed, now: 2)
        #expect(state.switched("c", .failed("exited"), now: 3) == [.restoreNodes(["a"])])
        #expect(state.phase == .rollingBack)
        #expect(state.restored("a") == [.restoreNodes(["b"])])
        #expect(state.restored("b") == [.finished(.rolledBack)])
        #expect(state.node("d")?.status == .distributed)
        #expect(state.node("c")?.status == .failed)
    }

    @Test("--max-failure-ratio: switch failures counted over the nodes switched so far")
    func failureRatio() {
        var (state, _) = distributed(RolloutPlan(maxFailureRatio: 0.34))
        _ = state.switched("a", Self.passed, now: 1)
        _ = state.switched("b", Self.passed, now: 2)
        #expect(state.switched("c", .failed("offline"), now: 3) == [.finished(.failed)])
        #expect(state.failedNodes.map(\.name) == ["c"])

        var (early, _) = distributed(RolloutPlan(maxFailureRatio: 0.34))
        #expect(early.switched("a", .failed("offline"), now: 1) == [])
        #expect(early.phase == .paused)
    }

    @Test("--on-failure continue goes on past failures and ends failed")
    func onFailureContinue() {
        var (state, _) = distributed(RolloutPlan(onFailure: .continue))
        #expect(state.switched("a", .failed("x"), now: 1) == [.switchNodes(["b"])])
        #expect(state.switched("b", Self.passed, now: 2) == [.switchNodes(["c"])])
        #expect(state.switched("c", Self.passed, now: 3) == [.finished(.failed)])
    }

    @Test("a node the image did not reach fails; the others go on when the ratio allows")
    func distributionFailure() throws {
        var state = RolloutState(id: "r", image: "i", plan: RolloutPlan(maxFailureRatio: 0.5), nodes: ["a", "b", "c"])
        _ = state.start()
        _ = state.distributed("a", now: 0)
        _ = state.distributed("b", failure: "node offline", now: 0)
        #expect(state.distributed("c", now: 0) == [.switchNodes(["a"])])
        #expect(state.waves == [["a"], ["c"]])
        // b was judged over all targets (1 of 3): it does not make a's wave a failure (1 of 1).
        #expect(state.switched("a", .noContainers, now: 1) == [.switchNodes(["c"])], "an audit saw this pause")
        // c's switch fails (1 of 1 switches): past the ratio; and 2 of 3 targets failed in all.
        #expect(state.switched("c", .failed("exit 3"), now: 2) == [])
        #expect(state.phase == .paused)

        var strict = RolloutState(id: "r", image: "i", plan: RolloutPlan(), nodes: ["a", "b"])
        _ = strict.start()
        _ = strict.distributed("a", failure: "offline", now: 0)
        #expect(strict.distributed("b", now: 0) == [])
        #expect(strict.phase == .paused)
        #expect(try strict.resume(now: 1) == [.switchNodes(["b"])])
    }

    @Test("pause holds the next wave; abort ends; a final rollout refuses pause and resume")
    func pauseResumeAbort() throws {
        var (state, _) = distributed(RolloutPlan())
        #expect(try state.pause() == [])
        #expect(state.switched("a", Self.passed, now: 1) == [])
        #expect(state.phase == .paused)
        #expect(try state.resume(now: 2) == [.switchNodes(["b"])])
        #expect(try state.abort() == [.finished(.aborted)])
        #expect(throws: FerryError.self) { try state.pause() }
        #expect(throws: FerryError.self) { try state.resume(now: 3) }
        #expect(throws: FerryError.self) { try state.abort() }
        // A switch in flight when aborted is recorded, and starts nothing.
        #expect(state.switched("b", Self.passed, now: 4) == [])
        #expect(state.node("b")?.status == .switched)
    }

    /// A review found a wave that ended while paused was skipped past at the resume: the
    /// canary wait and `--delay` never came.
    @Test("a wave that ends while paused is followed by its canary wait or --delay at the resume")
    func waveEndedWhilePaused() throws {
        var (canary, _) = distributed(RolloutPlan(maxParallel: 2, canary: 1, canaryWaitMilliseconds: 1000))
        _ = try canary.pause()
        #expect(canary.switched("a", Self.passed, now: 1) == [])
        #expect(try canary.resume(now: 5) == [.wakeAt(1005)])
        #expect(canary.phase == .waiting)
        #expect(canary.tick(now: 1005) == [.switchNodes(["b", "c"])])

        var manual = distributed(RolloutPlan(canary: 1)).0
        _ = try manual.pause()
        _ = manual.switched("a", Self.passed, now: 1)
        #expect(try manual.resume(now: 2) == [])
        #expect(manual.phase == .paused && manual.effectivePauseCause == .canary, "the manual canary wait comes after the pause")
        #expect(try manual.resume(now: 3) == [.switchNodes(["b"])])

        var delayed = distributed(RolloutPlan(delayMilliseconds: 500)).0
        _ = try delayed.pause()
        _ = delayed.switched("a", Self.passed, now: 1)
        #expect(try delayed.resume(now: 10) == [.wakeAt(510)])
        // A canary that failed its gate paused by the failure policy: the resume is the operator's
        // word to go on, the next wave starts (no canary wait after it).
        var failed = distributed(RolloutPlan(canary: 1)).0
        _ = failed.switched("a", .failed("unhealthy"), now: 1)
        #expect(failed.phase == .paused && failed.effectivePauseCause == .failurePolicy)
        #expect(try failed.resume(now: 2) == [.switchNodes(["b"])])
        // The canary removed from the cluster while paused before its wave: no canary ran, the
        // canary wave is skipped as before (its wait is not taken for a passed canary's).
        let tolerant = RolloutPlan(canary: 1, canaryWaitMilliseconds: 1000, maxFailureRatio: 1)
        var emptied = RolloutState(id: "r", image: "app:2", plan: tolerant, nodes: ["a", "b"])
        _ = emptied.start()
        _ = try emptied.pause()
        _ = emptied.distributed("a", now: 0)
        _ = emptied.distributed("b", now: 0)
        _ = emptied.removed("a", reason: "node removed from the cluster", now: 0)
        #expect(try emptied.resume(now: 1) == [.switchNodes(["b"])])
        // Paused while distributing: the first wave starts at the resume, as before.
        var early = RolloutState(id: "r", image: "app:2", plan: RolloutPlan(canary: 1, canaryWaitMilliseconds: 1000), nodes: ["a", "b"])
        _ = early.start()
        _ = try early.pause()
        _ = early.distributed("a", now: 0)
        _ = early.distributed("b", now: 0)
        #expect(try early.resume(now: 1) == [.switchNodes(["a"])])
    }

    @Test("with --on-failure continue, a failed canary waits as a passed one does")
    func continueAfterAFailedCanaryWaits() throws {
        var manual = distributed(RolloutPlan(canary: 1, onFailure: .continue)).0
        #expect(manual.switched("a", .failed("unhealthy"), now: 1) == [])
        #expect(manual.phase == .paused && manual.effectivePauseCause == .canary)
        #expect(try manual.resume(now: 2) == [.switchNodes(["b"])])
        var timed = distributed(RolloutPlan(canary: 1, canaryWaitMilliseconds: 1000, onFailure: .continue)).0
        #expect(timed.switched("a", .failed("unhealthy"), now: 1) == [.wakeAt(1001)])
        // Distribution failures still start the first wave at once.
        var state = RolloutState(id: "r", image: "app:2", plan: RolloutPlan(canary: 1, onFailure: .continue), nodes: ["a", "b", "c"])
        _ = state.start()
        _ = state.distributed("a", failure: "deadline", now: 0)
        _ = state.distributed("b", now: 0)
        #expect(state.distributed("c", now: 0) == [.switchNodes(["b"])])
    }

    @Test("a failed rollout can be closed with abort (its pause reason cleared), or rolled back")
    func abortClosesAFailedRollout() throws {
        var (state, _) = distributed(RolloutPlan(maxParallel: 3, maxFailureRatio: 1))
        _ = state.switched("a", Self.passed, now: 1)
        _ = state.switched("b", .failed("unhealthy"), now: 2)
        _ = state.switched("c", Self.passed, now: 3)
        #expect(state.phase == .failed)
        var rolled = state
        #expect(try rolled.rollback() == [.restoreNodes(["a", "c"])])
        #expect(try state.abort() == [.finished(.aborted)])
        #expect(state.phase == .aborted && state.pauseReason == nil)
        #expect(throws: FerryError.self) { try state.abort() }
    }

    @Test("rollback after success restores every switched node; a switch in flight is restored when it ends")
    func rollbackAfterSuccessAndInFlight() throws {
        var (state, _) = distributed(RolloutPlan(maxParallel: 3))
        _ = state.switched("a", Self.passed, now: 1)
        #expect(try state.rollback() == [.restoreNodes(["a"])])
        #expect(state.switched("b", Self.passed, now: 2) == [.restoreNodes(["b"])])
        #expect(state.switched("c", .failed("x"), now: 3) == [])
        #expect(state.restored("a") == [])
        #expect(state.restored("b") == [.finished(.rolledBack)])
        #expect(state.node("b")?.status == .restored)
        #expect(throws: FerryError.self) { try state.rollback() }
    }

    /// An audit restarted a node's engine during its restore: the rollout ended `rolledBack`, told
    /// its nodes to forget it, and the node ran the new image with no way to roll it back.
    @Test("a restore that fails leaves its node switched: the rollback ends failed, and another rollback tries the node again")
    func failedRestoreEndsFailed() throws {
        var (state, _) = distributed(RolloutPlan(maxParallel: 3))
        _ = state.switched("a", Self.passed, now: 1)
        _ = state.switched("b", Self.passed, now: 1)
        _ = state.switched("c", Self.passed, now: 1)
        #expect(try state.rollback() == [.restoreNodes(["a", "b", "c"])])
        #expect(state.restored("a") == [])
        #expect(state.restored("b", failure: "engine down") == [])
        #expect(state.restored("c") == [.finished(.failed)])
        #expect(state.phase == .failed)
        #expect(state.node("b")?.status == .switched && state.node("b")?.reason == "restore failed: engine down")
        #expect(try state.rollback() == [.restoreNodes(["b"])])
        #expect(state.restored("b") == [.finished(.rolledBack)])
    }

    /// A review found the first version of the fix above missed failures that came while the
    /// operator had paused the rollout: they were never acted on.
    @Test("failures that come while paused by request act when the rollout resumes: a switch that failed, nodes the image did not reach")
    func failuresDuringARequestedPauseActOnResume() throws {
        var (state, _) = distributed(RolloutPlan(maxParallel: 2, onFailure: .rollback))
        _ = try state.pause()
        #expect(state.switched("a", .failed("unhealthy"), now: 1) == [])
        #expect(try state.resume(now: 2) == [])
        #expect(state.phase == .rollingBack, "the rollback starts at the resume")
        #expect(state.switched("b", Self.passed, now: 3) == [.restoreNodes(["b"])])

        var paused = RolloutState(id: "r", image: "app:2", plan: RolloutPlan(maxParallel: 1), nodes: ["a", "b", "x"])
        _ = paused.start()
        _ = try paused.pause()
        _ = paused.distributed("a", now: 0)
        _ = paused.distributed("b", now: 0)
        #expect(paused.distributed("x", failure: "deadline", now: 0) == [])
        #expect(try paused.resume(now: 1) == [])
        #expect(paused.phase == .paused && paused.pauseReason?.contains("x: deadline") == true, "\(paused.pauseReason ?? "nil")")
        #expect(try paused.resume(now: 2) == [.switchNodes(["a"])], "resumed past the policy's pause: goes on")
        #expect(paused.switched("a", Self.passed, now: 3) == [.switchNodes(["b"])])
    }

    /// A review found the fix above skipped a wave: with `continue`, the resume of a manual
    /// canary wait ran the policy, which ended the wave a second time.
    @Test("with --on-failure continue, resuming a manual canary wait after a failure switches the next wave")
    func continueResumesTheNextWave() throws {
        var state = RolloutState(
            id: "r", image: "app:2", plan: RolloutPlan(maxParallel: 2, canary: 2, onFailure: .continue), nodes: ["a", "b", "c", "d"])
        _ = state.start()
        for name in ["a", "b", "c", "d"] { _ = state.distributed(name, now: 0) }
        _ = state.switched("a", .failed("unhealthy"), now: 1)
        #expect(state.switched("b", Self.passed, now: 2) == [])
        #expect(state.phase == .paused)
        #expect(try state.resume(now: 3) == [.switchNodes(["c", "d"])])
    }

    /// An audit resumed a rollout that paused on a node the image did not reach: every later
    /// switch, passed ones too, paused it again, wave after wave.
    @Test("after a resume past distribution failures, passed switches go on; a new switch failure acts")
    func resumeAfterDistributionFailure() throws {
        var state = RolloutState(id: "r", image: "app:2", plan: RolloutPlan(maxParallel: 1), nodes: ["a", "b", "c", "d"])
        _ = state.start()
        _ = state.distributed("a", now: 0)
        _ = state.distributed("b", now: 0)
        _ = state.distributed("c", now: 0)
        #expect(state.distributed("d", failure: "engine down", now: 0) == [])
        #expect(state.phase == .paused)
        #expect(try state.resume(now: 1) == [.switchNodes(["a"])])
        #expect(state.switched("a", Self.passed, now: 2) == [.switchNodes(["b"])])
        #expect(state.phase == .switching)
        #expect(state.switched("b", Self.passed, now: 3) == [.switchNodes(["c"])])
        #expect(state.switched("c", .failed("unhealthy"), now: 4) == [])
        #expect(state.phase == .paused)
    }

    /// A node counted silent during its restore (the rollback ended `rolledBack` without it)
    /// came back and could not put its containers back: the rollout stayed `rolledBack` and the
    /// node was told to forget it, running the new image with no way to roll it back.
    @Test("a late restore that fails after the rollback ended makes it failed, with the node switched; one that works leaves it restored")
    func lateRestoreDecidesTheRollback() throws {
        var (state, _) = distributed(RolloutPlan(maxParallel: 3))
        for name in ["a", "b", "c"] { _ = state.switched(name, Self.passed, now: 1) }
        _ = try state.rollback()
        _ = state.restored("a")
        #expect(state.restored("b", failure: "the node stopped answering during its restore", stillSwitched: false) == [])
        #expect(state.restored("c") == [.finished(.rolledBack)])
        #expect(state.lateRestored("b", failure: "engine down") == [.finished(.failed)])
        #expect(state.phase == .failed)
        #expect(state.node("b")?.status == .switched && state.node("b")?.reason == "restore failed: engine down")
        #expect(try state.rollback() == [.restoreNodes(["b"])], "another rollback tries it again")
        #expect(state.restored("b") == [.finished(.rolledBack)])
        #expect(state.node("b")?.reason == nil, "put back: the old reason is gone")

        var late = distributed(RolloutPlan(maxParallel: 3)).0
        for name in ["a", "b"] { _ = late.switched(name, Self.passed, now: 1) }
        _ = late.switched("c", Self.passed, now: 1)
        _ = try late.rollback()
        _ = late.restored("a")
        _ = late.restored("b", failure: "the node stopped answering during its restore", stillSwitched: false)
        _ = late.restored("c")
        #expect(late.lateRestored("b") == [])
        #expect(late.phase == .rolledBack && late.node("b")?.status == .restored && late.node("b")?.reason == nil)
        #expect(late.lateRestored("b", failure: "again") == [], "a node already put back is not touched by a repeat")

        // A rollback that ended failed (another node's restore failed): the late failure makes
        // the silent node switched, so the next rollback restores it too (a review found it dropped).
        var failedRollback = distributed(RolloutPlan(maxParallel: 3)).0
        for name in ["a", "b", "c"] { _ = failedRollback.switched(name, Self.passed, now: 1) }
        _ = try failedRollback.rollback()
        _ = failedRollback.restored("a", failure: "engine down")
        _ = failedRollback.restored("b", failure: "the node stopped answering during its restore", stillSwitched: false)
        #expect(failedRollback.restored("c") == [.finished(.failed)])
        #expect(failedRollback.lateRestored("b", failure: "engine down") == [])
        #expect(failedRollback.node("b")?.status == .switched)
        #expect(try failedRollback.rollback() == [.restoreNodes(["a", "b"])])

        // Silent during its switch, then a rollback that ended rolled back without it: its late
        // put-back that fails makes the rollout failed (a review found the regression: the node
        // was told to forget, on the new image).
        var silentSwitch = distributed(RolloutPlan(maxParallel: 3, onFailure: .rollback)).0
        _ = silentSwitch.switched("a", Self.passed, now: 1)
        #expect(silentSwitch.switched("b", .failed("the node stopped answering during its switch"), now: 2) == [.restoreNodes(["a"])])
        _ = silentSwitch.switched("c", Self.passed, now: 3)
        _ = silentSwitch.restored("a")
        #expect(silentSwitch.restored("c") == [.finished(.rolledBack)])
        #expect(silentSwitch.lateRestored("b", failure: "engine down") == [.finished(.failed)])
        #expect(silentSwitch.node("b")?.status == .switched)

        // The same node returning before any rollback (paused by the policy): a later rollback
        // puts it back with the switched ones (a review found it skipped, then told to forget).
        var paused = distributed(RolloutPlan(maxParallel: 2)).0
        _ = paused.switched("a", Self.passed, now: 1)
        #expect(paused.switched("b", .failed("the node stopped answering during its switch"), now: 2) == [])
        #expect(paused.phase == .paused)
        #expect(paused.lateRestored("b", failure: "engine down") == [])
        #expect(paused.node("b")?.status == .failed)
        #expect(try paused.rollback() == [.restoreNodes(["a", "b"])])
        _ = paused.restored("a")
        #expect(paused.restored("b") == [.finished(.rolledBack)])

        // Such a node removed while it waits for its restore wave: no wave names it any more.
        var waitingWave = distributed(RolloutPlan(maxParallel: 1)).0
        _ = waitingWave.switched("a", Self.passed, now: 1)
        _ = waitingWave.switched("b", .failed("the node stopped answering during its switch"), now: 2)
        _ = waitingWave.lateRestored("b", failure: "engine down")
        #expect(try waitingWave.rollback() == [.restoreNodes(["a"])])
        #expect(waitingWave.removed("b", reason: "gone", now: 3) == [])
        #expect(waitingWave.restored("a") == [.finished(.rolledBack)], "b is not visited")

        var failedSwitch = distributed(RolloutPlan(maxParallel: 3, onFailure: .continue)).0
        _ = failedSwitch.switched("a", .failed("the node stopped answering during its switch"), now: 1)
        #expect(failedSwitch.lateRestored("a", failure: "engine down") == [], "a failed switch's put-back, no rollback: the node stays failed")
        #expect(failedSwitch.node("a")?.status == .failed)
        #expect(failedSwitch.node("a")?.reason == "the node stopped answering during its switch; putting the old containers back failed: engine down")
    }

    /// The policy's pause was recognized by its reason's words; it is a typed cause now, and a
    /// state stored before the cause existed is still read by its words.
    @Test("what paused a rollout is typed; a state stored before the cause existed resumes as before")
    func pauseCause() throws {
        var (state, _) = distributed(RolloutPlan(maxParallel: 1))
        _ = state.switched("a", .failed("unhealthy"), now: 1)
        #expect(state.phase == .paused && state.pauseCause == .failurePolicy)
        var old = try JSONSerialization.jsonObject(with: JSONEncoder().encode(state)) as! [String: Any]
        old["pauseCause"] = nil
        var stored = try JSONDecoder().decode(RolloutState.self, from: JSONSerialization.data(withJSONObject: old))
        #expect(stored.pauseCause == nil)
        #expect(try stored.resume(now: 2) == [.switchNodes(["b"])], "read by its words: goes on past the failure")
        #expect(try state.resume(now: 2) == [.switchNodes(["b"])])
        _ = try state.pause()
        #expect(state.pauseCause == .request)
        _ = state.switched("b", Self.passed, now: 3)
        #expect(try state.resume(now: 4) == [.switchNodes(["c"])])
        #expect(state.pauseCause == nil)

        var canary = RolloutState(id: "r", image: "app:2", plan: RolloutPlan(maxParallel: 1, canary: 1), nodes: ["a", "b"])
        _ = canary.start()
        for name in ["a", "b"] { _ = canary.distributed(name, now: 0) }
        _ = canary.switched("a", Self.passed, now: 1)
        #expect(canary.phase == .paused && canary.pauseCause == .canary)
    }

    @Test("a node removed from the cluster: distribution stops waiting on it, its wave leaves it out, a switch or restore under way fails")
    func removedNodes() throws {
        var state = RolloutState(id: "r", image: "app:2", plan: RolloutPlan(maxParallel: 1, maxFailureRatio: 1), nodes: ["a", "b", "c", "d"])
        _ = state.start()
        _ = state.distributed("a", now: 0)
        _ = state.distributed("b", now: 0)
        _ = state.distributed("c", now: 0)
        #expect(state.removed("d", reason: "gone", now: 1) == [.switchNodes(["a"])], "distribution no longer waits")
        #expect(state.removed("b", reason: "gone", now: 2) == [], "a later wave's node")
        #expect(state.removed("a", reason: "gone", now: 3) == [.switchNodes(["c"])], "a switch under way fails; the next wave skips b")
        #expect(state.node("b")?.status == .failed && state.node("b")?.reason == "gone")
        #expect(state.switched("c", Self.passed, now: 4) == [.finished(.failed)])
        #expect(state.removed("c", reason: "gone", now: 5) == [], "over: nothing changes")
        #expect(state.node("c")?.status == .switched)

        var rollingBack = distributed(RolloutPlan(maxParallel: 1)).0
        _ = rollingBack.switched("a", Self.passed, now: 1)
        _ = rollingBack.switched("b", Self.passed, now: 2)
        _ = rollingBack.switched("c", Self.passed, now: 3)
        #expect(try rollingBack.rollback() == [.restoreNodes(["a"])])
        #expect(rollingBack.removed("b", reason: "gone", now: 4) == [], "not put back: its wave leaves it out")
        #expect(rollingBack.removed("a", reason: "gone", now: 5) == [.restoreNodes(["c"])], "a restore under way fails")
        #expect(rollingBack.restored("c") == [.finished(.rolledBack)])

        // Removed after its switch passed: a later rollback leaves it out (a review found it
        // handed a restore), and does not end failed because of it.
        var switched = distributed(RolloutPlan(maxParallel: 1)).0
        _ = switched.switched("a", Self.passed, now: 1)
        #expect(switched.removed("a", reason: "gone", now: 2) == [])
        #expect(switched.node("a")?.status == .switched && switched.isRemoved("a"))
        _ = switched.switched("b", Self.passed, now: 3)
        #expect(try switched.rollback() == [.restoreNodes(["b"])])
        #expect(switched.restored("b") == [], "c is still switching")
        #expect(switched.switched("c", Self.passed, now: 4) == [.restoreNodes(["c"])])
        #expect(switched.restored("c") == [.finished(.rolledBack)], "not failed because of the removed node")

        // Removed while the rollout waits between waves: its failure is a failure like any other
        // (a review found the policy bypassed: the next wave started past the ratio).
        var waiting = distributed(RolloutPlan(maxParallel: 1, delayMilliseconds: 1000, onFailure: .rollback)).0
        #expect(waiting.switched("a", Self.passed, now: 1) == [.wakeAt(1001)])
        #expect(waiting.removed("b", reason: "gone", now: 2) == [.restoreNodes(["a"])])
        #expect(waiting.phase == .rollingBack)

        // Over (aborted while a node switched), then removed: the node is failed, nothing is owed.
        var aborted = distributed(RolloutPlan(maxParallel: 1)).0
        _ = try aborted.abort()
        #expect(aborted.removed("a", reason: "gone", now: 1) == [])
        #expect(aborted.node("a")?.status == .failed)
    }

    /// A review found a rollback aborted while a node put its containers back kept that node
    /// `restoring` for ever (its report was accepted and dropped), so the repository stayed held.
    @Test("a restore that ends after the rollback was aborted is recorded")
    func restoreAfterAbort() throws {
        var state = distributed(RolloutPlan(maxParallel: 1)).0
        for name in ["a", "b", "c"] { _ = state.switched(name, Self.passed, now: 1) }
        #expect(try state.rollback() == [.restoreNodes(["a"])])
        _ = try state.abort()
        #expect(state.restored("a") == [], "nothing more starts")
        #expect(state.node("a")?.status == .restored)
    }

    @Test("the state round-trips through JSON (a leader restart resumes from it)")
    func codable() throws {
        var (state, _) = distributed(RolloutPlan(maxParallel: 2, delayMilliseconds: 100))
        _ = state.switched("a", Self.passed, now: 1)
        let data = try JSONEncoder().encode(state)
        var decoded = try JSONDecoder().decode(RolloutState.self, from: data)
        #expect(decoded == state)
        #expect(decoded.switched("b", Self.passed, now: 2) == state.switched("b", Self.passed, now: 2))
    }

    @Test("unknown nodes and repeated results change nothing")
    func idempotent() {
        var (state, _) = distributed(RolloutPlan())
        #expect(state.switched("zz", Self.passed, now: 1) == [])
        #expect(state.switched("b", Self.passed, now: 1) == [])  // not switching
        _ = state.switched("a", Self.passed, now: 1)
        #expect(state.switched("a", Self.passed, now: 1) == [])
    }
}

@Suite("Rollout plan")
struct RolloutPlanTests {
    @Test("out-of-range options are refused with the option's name")
    func validation() {
        let bad: [(RolloutPlan, String)] = [
            (RolloutPlan(maxParallel: 0), "--max-parallel"),
            (RolloutPlan(canary: -1), "--canary"),
            (RolloutPlan(maxFailureRatio: 1.5), "--max-failure-ratio"),
            (RolloutPlan(maxFailureRatio: -0.1), "--max-failure-ratio"),
            (RolloutPlan(maxFailureRatio: .nan), "--max-failure-ratio"),
            (RolloutPlan(delayMilliseconds: -1), "--delay"),
            (RolloutPlan(healthyDeadlineMilliseconds: 0), "--healthy-deadline"),
            (RolloutPlan(minHealthyMilliseconds: RolloutPlan.longestMilliseconds + 1), "--min-healthy"),
        ]
        for (plan, option) in bad {
            #expect(throws: FerryError.self) { try plan.validate() }
            do { try plan.validate() } catch { #expect(error.message.contains(option), "\(error.message)") }
        }
        #expect(throws: Never.self) { try RolloutPlan().validate() }
    }

    @Test("durations parse in ms, s, m, h and combinations")
    func durations() throws {
        #expect(try RolloutPlan.milliseconds(parsing: "500ms", option: "--delay") == 500)
        #expect(try RolloutPlan.milliseconds(parsing: "30s", option: "--delay") == 30_000)
        #expect(try RolloutPlan.milliseconds(parsing: "2m", option: "--delay") == 120_000)
        #expect(try RolloutPlan.milliseconds(parsing: "1m30s", option: "--delay") == 90_000)
        #expect(try RolloutPlan.milliseconds(parsing: "1.5", option: "--delay") == 1500)
        #expect(try RolloutPlan.milliseconds(parsing: "1h", option: "--delay") == 3_600_000)
        for bad in ["", "s", "5x", "-1s", "25h", "90000", "1 s", "abc", "inf", "1e3", "0x10", "1e3s", "nan"] {
            #expect(throws: FerryError.self, "\(bad)") { try RolloutPlan.milliseconds(parsing: bad, option: "--delay") }
        }
    }

    @Test("waves: canary first, then groups of --max-parallel")
    func waves() {
        #expect(RolloutPlan(maxParallel: 2, canary: 1).waves(of: ["a", "b", "c", "d"]) == [["a"], ["b", "c"], ["d"]])
        #expect(RolloutPlan(maxParallel: 5).waves(of: ["a", "b"]) == [["a", "b"]])
        #expect(RolloutPlan(canary: 3).waves(of: ["a"]) == [["a"]])
        #expect(RolloutPlan().waves(of: []) == [])
    }
}
