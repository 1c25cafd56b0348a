import FerryCore
import FerryDiagnostics
import FerryFormats
import Logging

/// Switches a node's containers to a new image through the engine (the I/O side of a rollout
/// on one node): each container is recreated from the new image with its own configuration
/// (``ContainerRecreation``), its old container kept, stopped and renamed, until the new one
/// passes its ``HealthGate``, and put back when it does not. Every step is preceded by a
/// ``SwitchRecord`` in the node's ``SwitchJournal``, so ``recover(logger:)`` can finish or undo
/// a switch a crash interrupted.
public struct ContainerSwitch: Sendable {
    /// stop-first or start-first.
    public enum Order: String, Sendable, Hashable, Codable, CaseIterable {
        /// Stop the old container, then start the new one (a short gap in service).
        case stopFirst = "stop-first"
        /// Start the new one beside the old one, stop the old one once the new one passed its gate.
        case startFirst = "start-first"
    }

    /// How a switch runs.
    public struct Options: Sendable, Hashable {
        public var order: Order
        /// `--min-healthy`: how long a container without a HEALTHCHECK must run (default 10 s).
        public var minHealthy: Duration
        /// `--healthy-deadline`: how long a HEALTHCHECK has to report healthy (default 2 min).
        public var healthyDeadline: Duration
        /// How long the old container is given to stop before it is killed when it sets no
        /// `--stop-timeout` of its own (default 10 s, as `docker stop`).
        public var stopTimeout: Duration
        /// How often the new container's state is read during its gate (default 250 ms).
        public var pollInterval: Duration

        public init(
            order: Order = .stopFirst, minHealthy: Duration = .seconds(10), healthyDeadline: Duration = .seconds(120),
            stopTimeout: Duration = .seconds(10), pollInterval: Duration = .milliseconds(250)
        ) {
            self.order = order
            self.minHealthy = minHealthy
            self.healthyDeadline = healthyDeadline
            self.stopTimeout = stopTimeout
            self.pollInterval = pollInterval
        }
    }

    /// What became of one container.
    public struct Outcome: Sendable, Hashable {
        public var name: String
        public var oldImageID: String
        /// The container now running under the name.
        public var containerID: String?
        /// nil when the new container passed its gate; else why the old one was put back.
        public var failure: String?
        /// Old container stopped → new container passed its gate (zero with start-first).
        public var downtime: Duration?

        /// The switch gave up because ``ContainerSwitch/interrupted`` said so (`failure` is
        /// ``ContainerSwitch/interruptedReason``); the old container runs.
        public var interrupted = false

        public var passed: Bool { failure == nil }

        /// `old` still (or again) holds its name: the switch failed for `failure`.
        static func kept(_ old: DockerContainer, failure: String) -> Outcome {
            Outcome(name: old.name, oldImageID: old.imageID, containerID: old.id, failure: failure, downtime: nil)
        }

        /// `old` kept because the switch was told to stop.
        static func interrupted(_ old: DockerContainer) -> Outcome {
            var outcome = kept(old, failure: ContainerSwitch.interruptedReason)
            outcome.interrupted = true
            return outcome
        }
    }

    public let client: DockerClient
    public let journal: any SwitchJournal
    public let options: Options
    /// Whether to give up the switch under way (the follower is stopping): a new container
    /// still in its gate fails it at once, and the old container is put back.
    public let interrupted: @Sendable () -> Bool

    /// The reason a gate gives when ``interrupted`` says so.
    public static let interruptedReason = "interrupted: the follower is stopping; the old container keeps running"

    public init(client: DockerClient, journal: any SwitchJournal, options: Options = .init(), interrupted: @escaping @Sendable () -> Bool = { false }) {
        self.client = client
        self.journal = journal
        self.options = options
        self.interrupted = interrupted
    }

    /// Every container of the engine, running or not, as inspected now.
    public func containers(logger: Logger = .disabled) async throws -> [DockerContainer] {
        var all: [DockerContainer] = []
        for id in try await client.listContainers(logger: logger) {
            if let container = try await client.inspectContainer(id, logger: logger) { all.append(container) }
        }
        return all
    }

    /// The running containers whose image is of `repository` but not `newImageID` (the
    /// containers a rollout switches), by name.
    public func candidates(repository: ImageReference, newImageID: String, logger: Logger = .disabled) async throws -> [DockerContainer] {
        Self.candidates(in: try await containers(logger: logger), repository: repository, newImageID: newImageID)
    }

    /// ``candidates(repository:newImageID:logger:)`` among `all`.
    static func candidates(in all: [DockerContainer], repository: ImageReference, newImageID: String) -> [DockerContainer] {
        all.filter { container in
            // A paused container counts as running to the engine: the operator paused it, so it
            // is left as it is (recreated, it would come back unpaused).
            !SwitchRecord.isSwitchName(container.name) && container.state.running && container.state.status != "paused"
                && ContainerRecreation.runs(container, repositoryOf: repository) && container.imageID != newImageID
        }.sorted { $0.name < $1.name }
    }

    /// Switches `old` to `newImage`; throws only when the engine cannot be driven at all
    /// (the record stays for ``recover(logger:)``), a failed gate is an ``Outcome``.
    public func switchContainer(_ old: DockerContainer, to newImage: String, rollout: String, logger: Logger = .disabled) async throws -> Outcome {
        var logger = logger
        logger[metadataKey: "docker.container"] = "\(old.name)"
        // Told to stop before this container was touched: it stays as it is.
        if interrupted() { return Outcome.interrupted(old) }
        if let obstacle = ContainerRecreation.switchObstacle(for: old) { throw FerryError(.invalidArgument, obstacle) }
        if options.order == .startFirst, let obstacle = ContainerRecreation.startFirstObstacle(for: old) {
            throw FerryError(.invalidArgument, obstacle)
        }
        let stopTimeout = ContainerRecreation.stopTimeout(of: old, fallback: options.stopTimeout)
        guard let oldImageConfig = try await client.imageConfig(old.imageID, logger: logger) else {
            throw FerryError(.notFound, "the image \(old.imageID) of container \(old.name) is no longer in the engine")
        }
        guard let newImageConfig = try await client.imageConfig(newImage, logger: logger) else {
            throw FerryError(.notFound, "the image \(newImage) is not in this node's Docker engine")
        }
        let request = ContainerRecreation.request(for: old, oldImageConfig: oldImageConfig, newImage: newImage, newImageConfig: newImageConfig)
        var record = SwitchRecord(
            rollout: rollout, name: old.name, oldID: old.id, oldImageID: old.imageID, oldReference: old.imageReference,
            oldWasRunning: old.state.running, newImage: newImage)
        try await journal.save(record)
        try await client.removeContainer(record.temporaryName, logger: logger)  // a leftover of an earlier attempt
        do {
            record.newID = try await client.createContainer(named: record.temporaryName, request, logger: logger)
        } catch {
            try await journal.finish(record)
            throw error
        }
        try await advance(&record, to: .created)
        let clock = ContinuousClock()

        switch options.order {
        case .stopFirst:
            let stopped = clock.now
            try await client.stopContainer(old.id, timeout: stopTimeout, logger: logger)
            try await advance(&record, to: .oldStopped)
            Failpoint.followerSwitchOldStopped.reach()
            if interrupted() {
                // Told to stop while the old one stopped: started again, the new one not at all.
                try await restore(record, logger: logger)
                return Outcome.interrupted(old)
            }
            try await swapNames(&record, logger: logger)
            try await client.startContainer(record.newID!, logger: logger)
            let started = clock.now
            try await advance(&record, to: .started)
            let gate = try await watchGate(record.newID!, logger: logger)
            if let failure = gate.failure {
                try await restore(record, after: failure, logger: logger)
                return failure == Self.interruptedReason ? .interrupted(old) : .kept(old, failure: failure)
            }
            // The gap in service: until the new container is healthy when it has a HEALTHCHECK;
            // without one, until it started (--min-healthy watches it, it serves meanwhile).
            let downtime = (gate.healthchecked ? clock.now : started) - stopped
            try await journal.replaced(replacedEntry(record))
            try await client.removeContainer(old.id, logger: logger)
            try await journal.finish(record)
            logger.debug("container switched", metadata: ["docker.downtime": "\(downtime)"])
            return Outcome(name: old.name, oldImageID: old.imageID, containerID: record.newID, failure: nil, downtime: downtime)

        case .startFirst:
            try await client.startContainer(record.newID!, logger: logger)
            try await advance(&record, to: .startedBeside)
            if let failure = try await watchGate(record.newID!, logger: logger).failure {
                try await restore(record, after: failure, logger: logger)
                return failure == Self.interruptedReason ? .interrupted(old) : .kept(old, failure: failure)
            }
            // The name moves to the new container while the old one still runs (Docker's DNS
            // follows a rename), and only then is the old one stopped: clients that reach the
            // container by name never meet the stopping one. The gap is the two renames.
            let swapping = clock.now
            try await swapNames(&record, logger: logger)
            let downtime = clock.now - swapping
            try await client.stopContainer(old.id, timeout: stopTimeout, logger: logger)
            try await advance(&record, to: .oldStopped)
            try await journal.replaced(replacedEntry(record))
            try await client.removeContainer(old.id, logger: logger)
            try await journal.finish(record)
            return Outcome(name: old.name, oldImageID: old.imageID, containerID: record.newID, failure: nil, downtime: downtime)
        }
    }

    /// Finishes or undoes every switch a crash interrupted: while the old container exists, it
    /// is put back under its name (and started if it ran); once it is gone (its new container
    /// had passed), the new one keeps the name and is started. Either way exactly one
    /// container holds the name afterwards.
    /// With `rollout`, only that rollout's switches (another may be in its gate beside it).
    public func recover(rollout: String? = nil, logger: Logger = .disabled) async throws -> [Outcome] {
        var outcomes: [Outcome] = []
        for record in try await journal.unfinished() where rollout == nil || record.rollout == rollout {
            if try await client.inspectContainer(record.oldID, logger: logger) != nil {
                try await restore(record, logger: logger)
                outcomes.append(Outcome(name: record.name, oldImageID: record.oldImageID, containerID: record.oldID, failure: "interrupted; the old container was put back", downtime: nil))
            } else if let newID = record.newID, let current = try await client.inspectContainer(newID, logger: logger) {
                if current.name != record.name { try await client.renameContainer(newID, to: record.name, logger: logger) }
                try await client.startContainer(newID, logger: logger)
                try await journal.replaced(replacedEntry(record))
                try await journal.finish(record)
                outcomes.append(Outcome(name: record.name, oldImageID: record.oldImageID, containerID: newID, failure: nil, downtime: nil))
            } else {
                try await journal.finish(record)
                outcomes.append(Outcome(name: record.name, oldImageID: record.oldImageID, containerID: nil, failure: "interrupted; neither container is left", downtime: nil))
            }
        }
        return outcomes
    }

    /// ``restore(_:logger:)`` after the gate failed with `failure`: a put-back that fails too
    /// (the engine restarting under both) is reported after the failure that caused it, which
    /// its own error used to replace (the status then read as if the old container were broken).
    private func restore(_ record: SwitchRecord, after failure: String, logger: Logger) async throws {
        do {
            try await restore(record, logger: logger)
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            let ferry = error as? FerryError
            throw FerryError(
                ferry?.code ?? .internal,
                "\(failure); putting the old container back failed too (it is put back when the engine answers again): \(ferry?.message ?? "\(error)")")
        }
    }

    /// Puts the old container back: the new one removed, the old one renamed back and started
    /// if it was running; the record is then over.
    func restore(_ record: SwitchRecord, logger: Logger) async throws {
        if let newID = record.newID { try await client.removeContainer(newID, logger: logger) }
        try await client.removeContainer(record.temporaryName, logger: logger)
        if let old = try await client.inspectContainer(record.oldID, logger: logger) {
            if old.name != record.name { try await client.renameContainer(record.oldID, to: record.name, logger: logger) }
            if record.oldWasRunning { try await client.startContainer(record.oldID, logger: logger) }
        }
        try await journal.finish(record)
        logger.debug("container restored", metadata: ["docker.container": "\(record.name)"])
    }

    private func replacedEntry(_ record: SwitchRecord) -> ReplacedContainer {
        ReplacedContainer(
            rollout: record.rollout, name: record.name, oldImageID: record.oldImageID, oldReference: record.oldReference, newImage: record.newImage)
    }

    private func swapNames(_ record: inout SwitchRecord, logger: Logger) async throws {
        try await client.renameContainer(record.oldID, to: record.backupName, logger: logger)
        try await client.renameContainer(record.newID!, to: record.name, logger: logger)
        try await advance(&record, to: .swapped)
    }

    private func advance(_ record: inout SwitchRecord, to phase: SwitchRecord.Phase) async throws {
        record.phase = phase
        try await journal.save(record)
    }

    /// Watches the new container until its gate passes (`failure` nil) or fails (the reason);
    /// `healthchecked`: whether the gate was its HEALTHCHECK (else `--min-healthy`).
    func watchGate(_ id: String, logger: Logger) async throws -> (failure: String?, healthchecked: Bool) {
        let clock = ContinuousClock()
        let started = clock.now
        var hasHealthcheck: Bool?
        while true {
            if interrupted() { return (Self.interruptedReason, hasHealthcheck ?? false) }
            guard let container = try await client.inspectContainer(id, logger: logger) else {
                return ("the new container disappeared", hasHealthcheck ?? false)
            }
            if hasHealthcheck == nil {
                var test = container.config["Healthcheck"]?["Test"]?.stringArray
                if test == nil, let image = try await client.imageConfig(container.imageID, logger: logger) {
                    test = image["Healthcheck"]?["Test"]?.stringArray
                }
                hasHealthcheck = HealthGate.hasHealthcheck(test: test)
            }
            let gate = HealthGate(hasHealthcheck: hasHealthcheck!, minHealthy: options.minHealthy, healthyDeadline: options.healthyDeadline)
            switch gate.verdict(state: container.state, restarts: container.restartCount, elapsed: clock.now - started) {
            case .passed: return (nil, hasHealthcheck!)
            case .failed(let reason): return (reason, hasHealthcheck!)
            case .waiting: try await Task.sleep(for: options.pollInterval)
            }
        }
    }
}
