import FerryCore
import FerryDiagnostics
import Logging

/// A rollout's work on one node: switch every container of the repository (the whole node put
/// back when one fails), or roll the node back to what the rollout replaced.
public struct NodeRollout: Sendable {
    /// How the node's part ended.
    public enum Result: Sendable, Hashable {
        /// No running container of the repository: reported, not a failure.
        case noContainers
        /// Every container switched and passed its gate; the longest gap in service.
        case passed(containers: Int, longestDowntime: Duration?)
        /// The node was put back; why.
        case failed(String)
        /// Told to stop (the follower stopping, or the rollout aborted) before every container was
        /// switched: those switched so far keep the new image, the journal keeps them for a report
        /// or a rollback; `at` names the container that went back or was never touched.
        case interrupted(at: String)
    }

    public let switcher: ContainerSwitch
    /// The switcher that puts a failed node back: stopped only by the follower stopping, not by
    /// what stops the switch (an abort must not leave a failed node half put back).
    public let restorer: ContainerSwitch

    /// `restorer`: defaults to `switcher`.
    public init(switcher: ContainerSwitch, restorer: ContainerSwitch? = nil) {
        self.switcher = switcher
        self.restorer = restorer ?? switcher
    }

    var client: DockerClient { switcher.client }

    /// Switches the node's containers of `repository` to `image` (which the engine must hold).
    ///
    /// The node is put back whole when a container fails its gate or the engine fails in the
    /// middle of the switch: the switch under way is finished or undone
    /// (``ContainerSwitch/recover(rollout:logger:)``) and the containers this rollout already
    /// switched here go back to their old images. Those that cannot be (the engine still away)
    /// stay on the new image and are named in the reason.
    public func switchNode(rollout: String, image: String, repository: ImageReference, logger: Logger = .disabled) async -> Result {
        do {
            return try await switchEach(rollout: rollout, image: image, repository: repository, logger: logger)
        } catch {
            _ = try? await switcher.recover(rollout: rollout, logger: logger)
            return .failed(Self.message(error) + (await putBack(rollout: rollout, logger: logger)))
        }
    }

    private func switchEach(rollout: String, image: String, repository: ImageReference, logger: Logger) async throws -> Result {
        guard let newImage = try await client.inspectImage(image, logger: logger) else {
            return .failed("the image \(image) is not in this node's Docker engine")
        }
        // One inspection of the engine's containers: the candidates, and who shares their namespaces.
        let all = try await switcher.containers(logger: logger)
        let containers = ContainerSwitch.candidates(in: all, repository: repository, newImageID: newImage.id)
        guard !containers.isEmpty else { return .noContainers }
        // Refused before any container is touched.
        for container in containers {
            if let obstacle = ContainerRecreation.switchObstacle(for: container) { return .failed(obstacle) }
            if switcher.options.order == .startFirst, let obstacle = ContainerRecreation.startFirstObstacle(for: container) { return .failed(obstacle) }
        }
        if let obstacle = ContainerRecreation.namespaceSharingObstacle(containers, among: all) { return .failed(obstacle) }
        var longest: Duration?
        for container in containers {
            let outcome: ContainerSwitch.Outcome
            do {
                outcome = try await switcher.switchContainer(container, to: image, rollout: rollout, logger: logger)
            } catch {
                throw FerryError((error as? FerryError)?.code ?? .internal, "\(container.name): \(Self.message(error))")
            }
            if outcome.interrupted {
                // The containers switched so far keep their new image (they passed their gates;
                // the journal keeps them for a later report or rollback).
                return .interrupted(at: container.name)
            }
            guard outcome.passed else {
                return .failed("\(container.name): \(outcome.failure ?? "failed")" + (await putBack(rollout: rollout, logger: logger)))
            }
            if let downtime = outcome.downtime { longest = max(longest ?? downtime, downtime) }
        }
        return .passed(containers: containers.count, longestDowntime: longest)
    }

    /// The node put back after a failure: ``rollbackNode(rollout:logger:)``, and what it could
    /// not put back as a suffix of the node's reason (empty when everything went back).
    private func putBack(rollout: String, logger: Logger) async -> String {
        do {
            let failures = try await NodeRollout(switcher: restorer).rollbackNode(rollout: rollout, logger: logger)
            return failures.isEmpty ? "" : "; putting back the others failed: \(failures.joined(separator: "; "))"
        } catch {
            return "; putting back the others failed: \(Self.message(error))"
        }
    }

    static func message(_ error: any Error) -> String {
        (error as? FerryError)?.message ?? "\(error)"
    }

    /// Puts back every container `rollout` replaced here: each recreated from its old image
    /// (by its old reference while that still names the old image, else by a tag of its own,
    /// ``restoreReference(_:rollout:logger:)``) with its configuration, behind the same gate.
    /// Returns what could not be put back.
    public func rollbackNode(rollout: String, logger: Logger = .disabled) async throws -> [String] {
        var failures: [String] = []
        let back = "\(rollout)-rollback"
        for entry in try await switcher.journal.replacedContainers(rollout: rollout).reversed() {
            if switcher.interrupted() {
                // The follower is stopping: what is left waits for the next restore work.
                failures.append("\(entry.name): \(ContainerSwitch.interruptedReason)")
                break
            }
            guard let current = try await client.inspectContainer(entry.name, logger: logger), current.imageID != entry.oldImageID else { continue }
            do {
                let target = try await restoreReference(entry, rollout: rollout, logger: logger)
                let outcome = try await switcher.switchContainer(current, to: target, rollout: back, logger: logger)
                if let failure = outcome.failure { failures.append("\(entry.name): \(failure)") }
            } catch {
                failures.append("\(entry.name): \((error as? FerryError)?.message ?? "\(error)")")
            }
        }
        try await switcher.journal.forgetReplaced(rollout: back)
        if failures.isEmpty { try await switcher.journal.forgetReplaced(rollout: rollout) }
        return failures
    }

    /// The reference to recreate `entry`'s container from: its old reference while that still
    /// names the old image. Once the tag moved on (`:stable`, `:latest`), the old image is tagged
    /// `REPOSITORY:ferry-rollback-ROLLOUT` and that is used: by image ID the container would be
    /// of no repository, and later rollouts of its repository would pass it by.
    func restoreReference(_ entry: ReplacedContainer, rollout: String, logger: Logger) async throws -> String {
        if try await client.inspectImage(entry.oldReference, logger: logger)?.id == entry.oldImageID { return entry.oldReference }
        guard !entry.oldReference.hasPrefix("sha256:"), let reference = try? ImageReference(parsing: entry.oldReference) else {
            return entry.oldImageID
        }
        let kept = "\(reference.name):\(Self.rollbackTag(rollout))"
        try await client.tag(entry.oldImageID, as: kept, logger: logger)
        logger.notice(
            "the old image's tag names another image now: restoring from a tag of its own",
            metadata: ["docker.container": "\(entry.name)", "old_reference": "\(entry.oldReference)", "docker.tag": "\(kept)"])
        return kept
    }

    /// `ferry-rollback-ROLLOUT`, within a tag's 128 characters.
    static func rollbackTag(_ rollout: String) -> String {
        String("ferry-rollback-\(rollout)".prefix(128))
    }
}
