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
    /// The targets and rollout work running (``FollowerWork``) and how to stop each target.
    let work = Mutex(FollowerWork())
    let stops = Mutex<[Int64: StopSignal]>([:])
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
                self.work.withLock { $0.switchEnded(item.key) }
            }
        }
    }

    /// Stops the targets the leader ended and starts the new ones, each in its own task,
    /// at most `slots` at once.
    private func startTargets(_ changes: FollowerWork.Changes, slots: AsyncSemaphore, in group: inout DiscardingTaskGroup) {
        for id in changes.stop {
            // Also every target this node has just reported done: not a cancellation to alarm anyone.
            guard let stop = stops.withLock({ $0[id] }) else { continue }
            logger.info("the leader no longer lists the target (done, failed or ended there); stopping what is left of it here", metadata: ["target": "\(id)"])
            stop.stop()
        }
        for first in changes.start {
            let id = first.targetID
            let firstStop = StopSignal()
            stops.withLock { $0[id] = firstStop }
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
                    // The next run's stop is in place before the target counts as running again,
                    // so that an answer stopping it from then on reaches that run.
                    let nextStop = StopSignal()
                    self.stops.withLock { $0[id] = nextStop }
                    guard let next = self.work.withLock({ $0.ended(id) }), !Task.isCancelled else { break }
                    if next.manifestDigest != item.manifestDigest {
                        self.logger.notice(
                            "the image's tag was resolved again to another digest: starting the target over with it",
                            metadata: ["target": "\(id)", "image": "\(next.reference)", "manifest": "\(next.manifestDigest)"])
                    }
                    (item, stop) = (next, nextStop)
                }
                _ = self.stops.withLock { $0.removeValue(forKey: id) }
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
                    let (known, switches) = work.withLock { ($0.known, $0.knownSwitches) }
                    let answer = try await self.mesh().work(wait: .seconds(25), known: known, switches: switches)
                    failures = 0
                    let changes = work.withLock { $0.answered(answer.items) }
                    startSwitches(work.withLock { $0.answered(switches: answer.switches ?? []) }, in: &group)
                    startTargets(changes, slots: slots, in: &group)
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
