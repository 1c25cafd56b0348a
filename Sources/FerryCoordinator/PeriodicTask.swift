import AsyncAlgorithms
import ServiceLifecycle

/// A periodic job of a daemon: runs `tick` every `interval` (and once at start when
/// `runsAtStart`), until its task is cancelled or the service group shuts down gracefully.
/// A tick that takes longer than the interval delays the next one; ticks never overlap.
struct PeriodicTask: Service {
    let interval: Duration
    let runsAtStart: Bool
    let tick: @Sendable () async -> Void

    init(every interval: Duration, runsAtStart: Bool = false, _ tick: @escaping @Sendable () async -> Void) {
        self.interval = interval
        self.runsAtStart = runsAtStart
        self.tick = tick
    }

    func run() async {
        if runsAtStart && !Task.isCancelled && !Task.isShuttingDownGracefully { await tick() }
        for await _ in AsyncTimerSequence(interval: interval, clock: .continuous).cancelOnGracefulShutdown() {
            await tick()
        }
    }
}
