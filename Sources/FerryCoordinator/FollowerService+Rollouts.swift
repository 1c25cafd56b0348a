import FerryDocker
import Logging

extension FollowerService {
    /// Finishes or undoes the container switches a crash interrupted, from this node's own
    /// records (`container_switches`), before the node takes new work. An engine that cannot be
    /// reached leaves the records for the next start.
    func recoverContainerSwitches() async {
        let journal = DatabaseSwitchJournal(database: database)
        do {
            guard !(try await journal.unfinished()).isEmpty else { return }
            let outcomes = try await ContainerSwitch(client: docker, journal: journal).recover(logger: logger)
            for outcome in outcomes {
                logger.notice(
                    "interrupted container switch recovered",
                    metadata: [
                        "docker.container": "\(outcome.name)", "outcome": "\(outcome.passed ? "finished" : "restored")",
                        "docker.id": "\(outcome.containerID?.prefix(12) ?? "none")",
                    ])
            }
        } catch {
            logger.warning("cannot recover interrupted container switches yet", metadata: ["error": "\(error)"])
        }
    }
}
