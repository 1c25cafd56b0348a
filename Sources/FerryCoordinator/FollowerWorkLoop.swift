import FerryConcurrency
import FerryCore
import FerryMesh
import FerryPolicy
import Logging
import ServiceLifecycle
import Synchronization

/// A follower's work: long-polls the leader for install targets and rollout work, runs each
/// target in a task of its own, at most `maxConcurrentImages` at a time, and stops a target the
/// leader no longer lists at once, freeing its slot.
final class FollowerWorkLoop: Sendable {
    /// Backoff while the leader does not answer work requests: 0.5 s doubling to 5 s.
    static let workRetry = RetryPolicy(maxAttempts: .max, baseDelay: .milliseconds(500), maxDelay: .seconds(5))

    let maxConcurrentImages: Int
    /// The client to the leader, made with the node's current credential.
    let mesh: @Sendable () -> MeshClient
    let rollouts: FollowerRollouts
    /// Runs one install target on this node to its end.
    let runTarget: @Sendable (WorkItem) async -> Void
    let logger: Logger
    /// The targets and rollout work running (``FollowerWork``) and how to stop each target's
    /// current run, under one lock: an answer's stops and starts, and a run's end and the next
    /// run's start, each happen at once, so that a stop always reaches the run it was meant for.
    struct Targets: Sendable {
        var work = FollowerWork()
        var stops: [Int64: StopSignal] = [:]
    }

    let targets = Mutex(Targets())
    /// How to halt each running piece of rollout work (an abort), by key.
    let halts = Mutex<[String: Latch]>([:])

    init(
        maxConcurrentImages: Int, mesh: @escaping @Sendable () -> MeshClient, rollouts: FollowerRollouts, logger: Logger,
        runTarget: @escaping @Sendable (WorkItem) async -> Void
    ) {
        self.maxConcurrentImages = maxConcurrentImages
        self.mesh = mesh
        self.rollouts = rollouts
        self.logger = logger
        self.runTarget = runTarget
    }

    /// Halts the rollout work an abort stops and starts the new work, each in its own task.
    private func startSwitches(_ changes: FollowerWork.SwitchChanges, in group: inout DiscardingTaskGroup) {
        for key in changes.halt {
            logger.notice("the rollout was aborted: stopping this node's switch after the container under way", metadata: ["rollout.work": "\(key)"])
            halts.withLock { $0[key] }?.set()
        }
        for item in changes.start {
            let halted = Latch()
            halts.withLock { $0[item.key] = halted }
            group.addTask {
                // Never cancelled half-way (FollowerRollouts.run): told to stop instead.
                let stopping = Latch()
                let switching = Task { await self.rollouts.run(item, stopping: stopping, halted: halted) }
                await withGracefulShutdownHandler {
                    await withTaskCancellationHandler { await switching.value } onCancel: { stopping.set() }
                } onGracefulShutdown: {
                    stopping.set()
                }
                _ = self.halts.withLock { $0.removeValue(forKey: item.key) }
                self.targets.withLock { $0.work.switchEnded(item.key) }
            }
        }
    }

    /// Applies the leader's answer listing `items`: stops the targets it ended (or whose digest
    /// moved) and starts the new ones, each in its own task, at most `slots` at once.
    private func answered(_ items: [WorkItem], slots: AsyncSemaphore, in group: inout DiscardingTaskGroup) {
        let (changes, stopping, started) = targets.withLock { targets in
            let changes = targets.work.answered(items)
            let stopping = changes.stop.compactMap { id in targets.stops[id].map { (id, $0) } }
            let started = changes.start.map { item in
                let stop = StopSignal()
                targets.stops[item.targetID] = stop
                return (item, stop)
            }
            return (changes, stopping, started)
        }
        for (id, stop) in stopping {
            if changes.moved.contains(id) {
                logger.notice("the image's tag was resolved again to another digest: stopping the target to start it over with it", metadata: ["target": "\(id)"])
            } else {
                // Also every target this node has just reported done: not a cancellation to alarm anyone.
                logger.info("the leader no longer lists the target (done, failed or ended there); stopping what is left of it here", metadata: ["target": "\(id)"])
            }
            stop.stop()
        }
        for (first, firstStop) in started {
            let id = first.targetID
            group.addTask {
                var (item, stop) = (first, firstStop)
                while true {
                    let current = item
                    await stop.run {
                        do {
                            try await slots.withPermit {
                                await self.runTarget(current)
                            }
                        } catch {
                            // Stopped or cancelled while waiting for a slot.
                        }
                    }
                    // The run's end and the next run's stop are one step: an answer stopping the
                    // target from then on reaches the next run, and a new run the loop starts
                    // after this end keeps its own stop.
                    let cancelled = Task.isCancelled || Task.isShuttingDownGracefully
                    let next = self.targets.withLock { targets -> (WorkItem, StopSignal)? in
                        guard let next = targets.work.ended(id, mayRestart: !cancelled) else {
                            // Still this run's: no new run of the target starts before `ended`.
                            targets.stops[id] = nil
                            return nil
                        }
                        let nextStop = StopSignal()
                        targets.stops[id] = nextStop
                        return (next, nextStop)
                    }
                    guard let next else { break }
                    if next.0.manifestDigest != item.manifestDigest {
                        self.logger.notice(
                            "starting the target over with the image's new digest",
                            metadata: ["target": "\(id)", "image": "\(next.0.reference)", "manifest": "\(next.0.manifestDigest)"])
                    }
                    (item, stop) = next
                }
            }
        }
    }

    /// Runs until cancelled (graceful shutdown), every target with it.
    func run() async {
        let slots = AsyncSemaphore(limit: max(maxConcurrentImages, 1))
        await withDiscardingTaskGroup { group in
            var failures = 0
            while !Task.isCancelled && !Task.isShuttingDownGracefully {
                do {
                    let (known, switches) = targets.withLock { ($0.work.known, $0.work.knownSwitches) }
                    let answer = try await self.mesh().work(wait: .seconds(25), known: known, switches: switches)
                    failures = 0
                    startSwitches(targets.withLock { $0.work.answered(switches: answer.switches ?? []) }, in: &group)
                    answered(answer.items, slots: slots, in: &group)
                } catch {
                    if Task.isCancelled { break }
                    failures += 1
                    let message = (error as? FerryError)?.message ?? "\(error)"
                    if failures == 1 || failures % 10 == 0 { logger.warning("cannot get work from the leader", metadata: ["error": "\(message)"]) }
                    try? await Task.sleep(for: Self.workRetry.delay(beforeRetry: min(failures, 8), random: Double.random(in: 0...1)) ?? .seconds(5))
                }
            }
        }
    }
}
