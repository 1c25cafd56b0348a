import FerryConcurrency
import FerryCore
import FerryMesh
import FerryPolicy
import Logging
import ServiceLifecycle
import Synchronization

extension FollowerService {
    /// Backoff while the leader does not answer work requests: 0.5 s doubling to 5 s.
    static let workRetry = RetryPolicy(maxAttempts: .max, baseDelay: .milliseconds(500), maxDelay: .seconds(5))

    /// Long-polls the leader for work and runs each target in a task of its own, at most
    /// `maxConcurrentImages` at a time; a target the leader no longer lists is stopped at once,
    /// freeing its slot. Ends when cancelled (graceful shutdown), every target with it.
    func runWork(transfers: TransferClient) async {
        let slots = AsyncSemaphore(limit: max(configuration.maxConcurrentImages, 1))
        await withDiscardingTaskGroup { group in
            var failures = 0
            while !Task.isCancelled && !Task.isShuttingDownGracefully {
                do {
                    let (known, switches) = work.withLock { ($0.known, $0.knownSwitches) }
                    let answer = try await self.mesh.work(wait: .seconds(25), known: known, switches: switches)
                    failures = 0
                    let changes = work.withLock { $0.answered(answer.items) }
                    for item in work.withLock({ $0.answered(switches: answer.switches ?? []) }) {
                        group.addTask {
                            await self.rollouts.run(item)
                            self.work.withLock { $0.switchEnded(item.key) }
                        }
                    }
                    for id in changes.stop {
                        logger.notice("the leader ended the target; stopping it", metadata: ["target": "\(id)"])
                        stops.withLock { $0[id] }?.stop()
                    }
                    for item in changes.start {
                        let stop = StopSignal()
                        stops.withLock { $0[item.targetID] = stop }
                        group.addTask {
                            defer {
                                _ = self.stops.withLock { $0.removeValue(forKey: item.targetID) }
                                self.work.withLock { $0.ended(item.targetID) }
                            }
                            await stop.run {
                                do {
                                    try await slots.withPermit {
                                        await TargetRunner(environment: FollowerTargetEnvironment(follower: self, transfers: transfers, repository: item.repository), item: item).run()
                                    }
                                } catch {
                                    // Stopped or cancelled while waiting for a slot.
                                }
                            }
                        }
                    }
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
