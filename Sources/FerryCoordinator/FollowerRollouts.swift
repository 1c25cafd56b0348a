import FerryConcurrency
import FerryCore
import FerryDocker
import FerryMesh
import FerryPolicy
import FerryState
import Logging

/// This node's part of rollouts: switch work carried out through the engine and reported to the
/// leader, and the recovery of switches a crash interrupted, from the node's own records.
struct FollowerRollouts: Sendable {
    let database: FerryDatabase
    let docker: DockerClient
    /// The client to the leader, made with the node's current credential.
    let mesh: @Sendable () -> MeshClient
    /// One switch, restore or recovery at a time on the node: a record of a switch under way is
    /// never taken for an interrupted one.
    let permit: AsyncSemaphore
    let logger: Logger

    /// How often the follower retries interrupted switches while any are left (the engine away).
    static let recoveryInterval: Duration = .seconds(10)

    /// Finishes or undoes the container switches a crash or an engine outage interrupted, from
    /// this node's own records (`container_switches`): at the follower's start, before each
    /// piece of rollout work, and every ``recoveryInterval`` while any are left. An engine that
    /// cannot be reached leaves the records for the next try. Returns whether none are left.
    /// `quietly`: a failure is logged at debug only (the periodic retries).
    @discardableResult
    func recoverInterrupted(quietly: Bool = false) async -> Bool {
        do {
            return try await permit.withPermit { await recoverUnderPermit(quietly: quietly) }
        } catch {
            return false  // cancelled while waiting
        }
    }

    private func recoverUnderPermit(quietly: Bool) async -> Bool {
        let journal = DatabaseSwitchJournal(database: database)
        do {
            guard !(try await journal.unfinished()).isEmpty else { return true }
            let outcomes = try await ContainerSwitch(client: docker, journal: journal).recover(logger: logger)
            for outcome in outcomes {
                logger.notice(
                    "interrupted container switch recovered",
                    metadata: [
                        "docker.container": "\(outcome.name)", "outcome": "\(outcome.passed ? "finished" : "restored")",
                        "docker.id": "\(outcome.containerID?.prefix(12) ?? "none")",
                    ])
            }
            return true
        } catch {
            logger.log(
                level: quietly ? .debug : .warning, "cannot recover interrupted container switches yet; retrying while the follower runs",
                metadata: ["error": "\((error as? FerryError)?.message ?? "\(error)")"])
            return false
        }
    }

    /// Runs one piece of rollout work on this node and reports how it ended, retrying the report
    /// while the leader cannot be reached. Returns once the leader took (or refused) the report.
    ///
    /// Not to be cancelled (a switch stopped between two engine calls would leave a container
    /// stopped): `stopping` is set instead when the follower stops. A container in its gate then
    /// fails it at once and its old container is put back, and nothing is reported: the leader
    /// hands the work out again when the node is back, or counts the node failed if it stays away.
    ///
    /// `halted` is set when the rollout is aborted while this switch runs: a container in its
    /// gate goes back at once, those already switched keep the new image, no other is touched,
    /// and the report says so (``haltReport(_:logger:)``).
    func run(_ item: SwitchWorkItem, stopping: Latch, halted: Latch = Latch()) async {
        var logger = logger
        logger[metadataKey: "rollout"] = "\(item.rolloutID)"
        logger[metadataKey: "rollout.action"] = "\(item.action.rawValue)"
        logger.notice("rollout work started", metadata: ["image": "\(item.image)"])
        let report: SwitchReport
        do {
            report = try await permit.withPermit {
                // What an engine outage left half-done first: this work may touch the same containers.
                _ = await recoverUnderPermit(quietly: false)
                return await self.report(for: item, stopping: { stopping.isSet }, halted: { halted.isSet }, logger: logger)
            }
        } catch {
            return  // cancelled while waiting for the permit: nothing was done
        }
        if stopping.isSet {
            logger.notice("rollout work interrupted: the follower is stopping", metadata: ["reason": "\(report.reason ?? "")"])
            return
        }
        logger.notice(
            "rollout work ended",
            metadata: [
                "outcome": "\(report.outcome.rawValue)", "containers": "\(report.containers)",
                "downtime_ms": "\(report.downtimeMilliseconds.map(String.init) ?? "none")", "reason": "\(report.reason ?? "")",
            ])
        var failures = 0
        while !stopping.isSet {
            do {
                try await mesh().switchReport(rollout: item.rolloutID, report)
                return
            } catch let error as FerryError where !error.isTransient {
                logger.warning("the leader refused the rollout report", metadata: ["error": "\(error.message)"])
                return
            } catch {
                failures += 1
                if failures == 1 || failures % 10 == 0 {
                    logger.warning("cannot send the rollout report yet", metadata: ["error": "\((error as? FerryError)?.message ?? "\(error)")"])
                }
                try? await Task.sleep(for: FollowerWorkLoop.workRetry.delay(beforeRetry: min(failures, 8), random: Double.random(in: 0...1)) ?? .seconds(5))
            }
        }
    }

    /// Carries out `item` through the engine. Running it again gives the same report: a switch
    /// whose containers already run the new image reports what the rollout replaced here, a
    /// restore or forget with nothing left to do reports success.
    ///
    /// `stopping`: the follower is stopping (everything stops, nothing is reported); `halted`:
    /// the rollout was aborted (the switch stops, a failed node's put-back does not).
    func report(
        for item: SwitchWorkItem, stopping: @escaping @Sendable () -> Bool, halted: @escaping @Sendable () -> Bool = { false }, logger: Logger
    ) async -> SwitchReport {
        if item.halt == true { return await haltReport(item, logger: logger) }
        let journal = DatabaseSwitchJournal(database: database)
        let options = ContainerSwitch.Options(
            order: item.order == .startFirst ? .startFirst : .stopFirst,
            minHealthy: .milliseconds(item.minHealthyMilliseconds), healthyDeadline: .milliseconds(item.healthyDeadlineMilliseconds))
        let node = NodeRollout(
            switcher: ContainerSwitch(client: docker, journal: journal, options: options, interrupted: { stopping() || halted() }),
            restorer: ContainerSwitch(client: docker, journal: journal, options: options, interrupted: stopping))
        do {
            switch item.action {
            case .switch:
                let repository = try ImageReference(parsing: item.repository)
                // A node that fails is put back whole by switchNode (a failed gate or an engine error).
                switch await node.switchNode(rollout: item.rolloutID, image: item.image, repository: repository, logger: logger) {
                case .passed(let containers, let downtime):
                    // Counting those an earlier attempt of this rollout switched (work handed out again).
                    // The switch passed: a journal that cannot be read now does not make it a failure.
                    let replaced = (try? await journal.replacedContainers(rollout: item.rolloutID).count) ?? containers
                    return SwitchReport(
                        action: .switch, outcome: .passed, containers: max(containers, replaced), downtimeMilliseconds: downtime.map(\.wholeMilliseconds))
                case .failed(let reason):
                    return SwitchReport(action: .switch, outcome: .failed, reason: reason)
                case .interrupted(let name):
                    // Halted by the rollout's abort; a follower stopping sends no report.
                    guard halted(), !stopping() else {
                        return SwitchReport(action: .switch, outcome: .failed, reason: "\(name): \(ContainerSwitch.interruptedReason)")
                    }
                    return await haltReport(item, logger: logger)
                case .noContainers:
                    // Done before (a report lost to a restart): what this rollout replaced here.
                    let replaced = try await journal.replacedContainers(rollout: item.rolloutID)
                    return SwitchReport(action: .switch, outcome: replaced.isEmpty ? .noContainers : .passed, containers: replaced.count)
                }
            case .restore:
                let replaced = try await journal.replacedContainers(rollout: item.rolloutID)
                let failures = try await node.rollbackNode(rollout: item.rolloutID, logger: logger)
                guard failures.isEmpty else {
                    return SwitchReport(action: .restore, outcome: .failed, reason: failures.joined(separator: "; "))
                }
                return SwitchReport(action: .restore, outcome: .restored, containers: replaced.count)
            case .forget:
                if item.cleanup == true {
                    let repository = try ImageReference(parsing: item.repository)
                    _ = await node.removeReplacedImages(rollout: item.rolloutID, repository: repository, logger: logger)
                }
                try await journal.forgetReplaced(rollout: item.rolloutID)
                return SwitchReport(action: .forget, outcome: .forgotten)
            }
        } catch {
            // The engine could not be driven: finish or undo what the journal says was under way.
            if item.action == .switch { _ = try? await node.switcher.recover(rollout: item.rolloutID, logger: logger) }
            return SwitchReport(action: item.action, outcome: .failed, reason: (error as? FerryError)?.message ?? "\(error)")
        }
    }

    /// The report of a switch the rollout's abort stopped (or, for a halt item, found not
    /// running here): `failed`, saying which containers it had switched (they keep the new
    /// image; an aborted rollout is not rolled back) and that the others kept their old one.
    func haltReport(_ item: SwitchWorkItem, logger: Logger) async -> SwitchReport {
        let switched: [String]
        do {
            switched = try await DatabaseSwitchJournal(database: database).replacedContainers(rollout: item.rolloutID).map(\.name)
        } catch {
            return SwitchReport(
                action: .switch, outcome: .failed,
                reason: "stopped by the rollout's abort; what it had switched here cannot be read: \((error as? FerryError)?.message ?? "\(error)")")
        }
        guard !switched.isEmpty else {
            return SwitchReport(action: .switch, outcome: .failed, reason: "stopped by the rollout's abort before any container was switched")
        }
        logger.notice(
            "stopped by the rollout's abort: the containers switched keep the new image, the others their old one",
            metadata: ["docker.containers": "\(switched)"])
        return SwitchReport(
            action: .switch, outcome: .failed, containers: switched.count,
            reason: "stopped by the rollout's abort: \(switched.count) switched (\(switched.joined(separator: ", "))), the others left on their old image")
    }
}
