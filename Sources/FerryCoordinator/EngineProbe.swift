import FerryDocker
import Synchronization

/// What a follower's heartbeat says of its Docker engine, probed apart from the heartbeat: a
/// `/_ping` that takes long (an engine hung, or slow under load) must not hold the heartbeat
/// back, or the leader, which counts a node unreachable after three missed heartbeats, would
/// show the node gone (and fail its rollout switch) instead of showing the engine's trouble.
final class EngineProbe: Sendable {
    /// The engine's version, or why it cannot be reached.
    enum State: Sendable, Equatable {
        case answers(version: String)
        case unreachable(String)
    }

    private struct Probe {
        var last: State?
        /// When the probe under way started; nil between probes.
        var since: ContinuousClock.Instant?
    }

    private let probe = Mutex(Probe())
    /// How long a probe may wait before the engine counts as not answering.
    let patience: Duration

    init(patience: Duration) {
        self.patience = patience
    }

    /// A probe starts at `now`.
    func began(at now: ContinuousClock.Instant) {
        probe.withLock { $0.since = now }
    }

    /// The probe under way ended with `state`.
    func ended(_ state: State) {
        probe.withLock {
            $0.last = state
            $0.since = nil
        }
    }

    /// The engine's state at `now`: what the last probe found, unless the probe under way has
    /// waited longer than ``patience`` after an answer (or before the first one); nil before the
    /// first answer. An engine already unreachable keeps its last reason (a hung engine's probes
    /// alternate between waiting and timing out: the reason shown and logged stays one).
    func state(at now: ContinuousClock.Instant) -> State? {
        probe.withLock { probe in
            if let since = probe.since, now - since > patience {
                if case .unreachable = probe.last { return probe.last }
                return .unreachable("the Docker engine has not answered /_ping for more than \(patience.secondsText)")
            }
            return probe.last
        }
    }
}
