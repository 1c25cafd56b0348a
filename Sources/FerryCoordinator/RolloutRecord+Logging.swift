import FerryPolicy
import Logging

extension RolloutRecord {
    /// Logs what an event started: a wave, a restore, a wait, the end.
    func log(_ action: RolloutState.Action, to logger: Logger) {
        switch action {
        case .distribute(let names): logger.info("rollout distributes", metadata: ["rollout": "\(id)", "nodes": "\(names)"])
        case .switchNodes(let names): logger.notice("rollout switches nodes", metadata: ["rollout": "\(id)", "nodes": "\(names)", "wave": "\(state.wave)"])
        case .restoreNodes(let names): logger.notice("rollout restores nodes", metadata: ["rollout": "\(id)", "nodes": "\(names)"])
        case .wakeAt(let time): logger.info("rollout waits", metadata: ["rollout": "\(id)", "until_ms": "\(time)"])
        case .finished(let phase):
            logger.notice(
                "rollout finished", metadata: ["rollout": "\(id)", "phase": "\(phase.rawValue)", "failed": "\(state.failedNodes.map(\.name))"])
        }
    }
}
