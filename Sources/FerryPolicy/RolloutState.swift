import FerryCore

/// One rollout as a pure state machine: distribute the image to every target node, then
/// switch the nodes in waves (canary first), count failures against the plan's ratio and
/// pause, roll back or go on. Events go in (`mutating` methods, each given the time),
/// ``RolloutState/Action``s come out for the leader to carry out; the whole value is `Codable`
/// so the leader stores it after every event and resumes from it after a restart.
public struct RolloutState: Sendable, Hashable, Codable {
    /// Where the rollout is.
    public enum Phase: String, Sendable, Hashable, Codable, CaseIterable {
        /// Installing the image on the target nodes; no container touched.
        case distributing
        /// Switching a wave of nodes.
        case switching
        /// Between waves (`--delay`) or after the canary wave (`--canary-wait`).
        case waiting
        /// Stopped before the next wave: `--on-failure pause`, a manual canary or `pause`.
        case paused
        /// Putting switched nodes back.
        case rollingBack
        /// Every node switched and passed (or had nothing to switch).
        case succeeded
        /// Over, with failed nodes.
        case failed
        /// Stopped by `abort`: nodes stay as they are.
        case aborted
        /// Every switched node put back.
        case rolledBack

        /// Whether nothing more happens.
        public var isFinal: Bool { [.succeeded, .failed, .aborted, .rolledBack].contains(self) }

        /// The phase after "rollout ID is …" in messages: "over (succeeded)", "rolling back".
        public var sentence: String {
            switch self {
            case .succeeded, .failed: "over (\(rawValue))"
            case .rollingBack: "rolling back"
            case .rolledBack: "rolled back"
            default: rawValue
            }
        }
    }

    /// One node's progress.
    public enum NodeStatus: String, Sendable, Hashable, Codable, CaseIterable {
        case pending, distributing, distributed, switching, switched, failed, noContainers = "no-containers", restoring, restored
    }

    /// A node of the rollout.
    public struct Node: Sendable, Hashable, Codable {
        public var name: String
        public var status: NodeStatus
        /// Why it failed (or what a restore met).
        public var reason: String?
        /// Containers switched on it.
        public var containers: Int
        /// Longest container downtime there, in milliseconds.
        public var downtimeMilliseconds: Int64?

        public init(name: String, status: NodeStatus = .pending, reason: String? = nil, containers: Int = 0, downtimeMilliseconds: Int64? = nil) {
            self.name = name
            self.status = status
            self.reason = reason
            self.containers = containers
            self.downtimeMilliseconds = downtimeMilliseconds
        }
    }

    /// What the leader does next.
    public enum Action: Sendable, Hashable {
        /// Install the image on these nodes (exactly as `ferry install`).
        case distribute([String])
        /// Switch these nodes' containers.
        case switchNodes([String])
        /// Put these nodes' old containers back.
        case restoreNodes([String])
        /// Call ``RolloutState/tick(now:)`` at this time (milliseconds).
        case wakeAt(Int64)
        /// The rollout ended in this phase.
        case finished(Phase)
    }

    /// Why a rollout paused.
    public enum PauseCause: String, Sendable, Hashable, Codable {
        /// `ferry rollout pause`.
        case request
        /// The failure policy (`--on-failure pause`): a resume goes on past these failures.
        case failurePolicy = "failure-policy"
        /// The canary wave is done and `--canary-wait` is manual.
        case canary
    }

    /// How a node's switch ended.
    public enum SwitchResult: Sendable, Hashable {
        case passed(containers: Int, downtimeMilliseconds: Int64?)
        case failed(String)
        /// No container of the repository runs there: reported, not a failure.
        case noContainers
    }

    public let id: String
    public let image: String
    public let plan: RolloutPlan
    public private(set) var phase: Phase
    public private(set) var nodes: [Node]
    /// The waves, fixed when distribution ends.
    public private(set) var waves: [[String]]
    /// Index of the wave being switched or next.
    public private(set) var wave: Int
    /// When a `waiting` phase ends (milliseconds); nil while waiting for `resume`.
    public private(set) var wakeAt: Int64?
    /// Why it paused, when paused.
    public private(set) var pauseReason: String?
    /// What paused it, when paused. (Optional: states stored before it decode; their cause is
    /// read from `pauseReason`.)
    public private(set) var pauseCause: PauseCause?
    /// The waves of nodes to restore during a rollback.
    public private(set) var restoreWaves: [[String]]
    /// Failed nodes when a pause of the failure policy was last resumed: the operator went on
    /// past them, and only more failures act again. (Optional: states stored before it decode.)
    public private(set) var acceptedFailures: Int?

    public init(id: String, image: String, plan: RolloutPlan, nodes: [String]) {
        self.id = id
        self.image = image
        self.plan = plan
        self.phase = .distributing
        self.nodes = nodes.map { Node(name: $0) }
        self.waves = []
        self.wave = 0
        self.restoreWaves = []
    }

    // MARK: Queries

    public func node(_ name: String) -> Node? { nodes.first { $0.name == name } }

    /// Nodes whose switch failed (or whose image never arrived).
    public var failedNodes: [Node] { nodes.filter { $0.status == .failed } }

    /// `name: reason` of every failed node, for the failure policy's pause.
    var failureReasons: String { failedNodes.map { "\($0.name): \($0.reason ?? "failed")" }.joined(separator: "; ") }

    /// Whether failures so far are past the plan's ratio: switch failures over the switches whose
    /// outcome is known (failed, switched), so the first failure with ratio 0 triggers; or every
    /// failure, nodes the image did not reach included, over all targets. A node the image did
    /// not reach was judged over all targets when distribution ended: counted among the early
    /// switch outcomes, it would make the first wave look like a failure (1 of 1).
    public var failureRatioExceeded: Bool {
        let switching = Set(waves.joined())
        let failed = nodes.filter { $0.status == .failed && switching.contains($0.name) }.count
        let decided = nodes.filter { ($0.status == .failed || $0.status == .switched) && switching.contains($0.name) }.count
        if failed > 0, decided > 0, Double(failed) / Double(decided) > plan.maxFailureRatio { return true }
        return failureRatioOverTargets
    }

    // MARK: Events

    /// The first actions: distribute to every node.
    public mutating func start() -> [Action] {
        guard phase == .distributing else { return [] }
        for index in nodes.indices { nodes[index].status = .distributing }
        return [.distribute(nodes.map(\.name))]
    }

    /// A node's install ended; once every node's has, switching starts (or the failure policy acts).
    public mutating func distributed(_ name: String, failure: String? = nil, now: Int64) -> [Action] {
        guard !phase.isFinal, phase != .rollingBack, let index = index(of: name), nodes[index].status == .distributing else { return [] }
        if let failure {
            nodes[index].status = .failed
            nodes[index].reason = failure
        } else {
            nodes[index].status = .distributed
        }
        guard !nodes.contains(where: { $0.status == .distributing }) else { return [] }
        waves = plan.waves(of: nodes.filter { $0.status == .distributed }.map(\.name))
        wave = 0
        guard phase == .distributing else { return [] }  // paused: resume starts the first wave
        if failureRatioOverTargets {
            return failurePolicy(reason: "the image did not reach \(failedNodes.map(\.name).joined(separator: ", "))", now: now)
        }
        return startWave(now: now)
    }

    /// A node's switch ended.
    public mutating func switched(_ name: String, _ result: SwitchResult, now: Int64) -> [Action] {
        guard let index = index(of: name), nodes[index].status == .switching else { return [] }
        switch result {
        case .passed(let containers, let downtime):
            nodes[index].status = .switched
            nodes[index].containers = containers
            nodes[index].downtimeMilliseconds = downtime
        case .failed(let reason):
            nodes[index].status = .failed
            nodes[index].reason = reason
        case .noContainers:
            nodes[index].status = .noContainers
        }
        guard phase == .switching || phase == .paused || phase == .aborted || phase == .rollingBack else { return [] }
        // Only failures beyond those a resume went on past act: before, after a resume past nodes
        // the image did not reach, every later switch, passed ones too, paused the rollout again.
        if phase == .switching, failedNodes.count > (acceptedFailures ?? 0), failureRatioExceeded {
            return failurePolicy(reason: failureReasons, now: now)
        }
        if phase == .rollingBack {
            // A node switched while the rollback began is put back too.
            if nodes[index].status == .switched { return restore([name]) }
            return finishRollbackIfDone()
        }
        guard phase == .switching, !waveInFlight else { return [] }
        return waveEnded(now: now)
    }

    /// A node's restore ended. One that failed still runs the new containers: it stays
    /// `switched` (with the reason), so the rollback ends `failed`, and another `rollback` tries
    /// it again; with `stillSwitched` false (a node counted silent, told to put its containers
    /// back when it returns) it is `failed`.
    public mutating func restored(_ name: String, failure: String? = nil, stillSwitched: Bool = true) -> [Action] {
        guard phase == .rollingBack || phase == .aborted, let index = index(of: name), nodes[index].status == .restoring else { return [] }
        nodes[index].status = failure == nil ? .restored : (stillSwitched ? .switched : .failed)
        // Put back: what an earlier failed restore said no longer holds.
        nodes[index].reason = failure.map { "restore failed: \($0)" }
        // Aborted during the rollback: the outcome is recorded (the node no longer holds the
        // repository), nothing more starts.
        guard phase == .rollingBack, !nodes.contains(where: { $0.status == .restoring }) else { return [] }
        if !restoreWaves.isEmpty {
            let next = restoreWaves.removeFirst()
            return restore(next)
        }
        return finishRollbackIfDone()
    }

    /// A node counted failed while silent (during its switch, or a rollback's restore) returned
    /// and put its old containers back late, or could not. Once a rollback has begun, this
    /// decides how it ends, whether it is under way, over (`rolledBack`) or over `failed`: a node
    /// that could not put its containers back still runs the new ones, so it is `switched` again
    /// (with the reason; another `rollback` retries it) and a `rolledBack` rollout becomes
    /// `failed`; one put back is `restored`. Without a rollback (a failed switch's put-back, or
    /// after an abort), a failure only adds to the node's reason.
    public mutating func lateRestored(_ name: String, failure: String? = nil) -> [Action] {
        guard let index = index(of: name), nodes[index].status == .failed else { return [] }
        // States stored before `rollbackBegan`: a node restored or restoring says one began.
        let began = rollbackBegan ?? nodes.contains { $0.status == .restored || $0.status == .restoring }
        let rollback = phase == .rollingBack || phase == .rolledBack || (phase == .failed && began)
        guard rollback else {
            if let failure {
                nodes[index].reason = (nodes[index].reason.map { $0 + "; " } ?? "") + "putting the old containers back failed: \(failure)"
                // Still on the new containers: a later rollback puts them back too.
                if stillSwitched?.contains(name) != true { stillSwitched = (stillSwitched ?? []) + [name] }
            }
            return []
        }
        nodes[index].status = failure == nil ? .restored : .switched
        nodes[index].reason = failure.map { "restore failed: \($0)" }
        guard phase == .rolledBack, failure != nil else { return [] }
        phase = .failed
        return [.finished(.failed)]
    }

    /// Node `name` was removed from the cluster (`ferry nodes remove`): it takes no further part,
    /// and no rollback visits it. Still receiving the image, waiting for its wave or switching,
    /// it fails with `reason` (as its install target does; a failure like any other, which the
    /// failure policy counts); restoring, it fails as a silent one does. A node already switched
    /// keeps its status. In a rollout that is over, a node still switching or restoring (an
    /// abort's halt) is failed: nothing more is asked of it.
    public mutating func removed(_ name: String, reason: String, now: Int64) -> [Action] {
        guard let index = index(of: name) else { return [] }
        if removedNodes?.contains(name) != true { removedNodes = (removedNodes ?? []) + [name] }
        // No later restore wave names it (a failed node still on the new containers may wait in one).
        restoreWaves = restoreWaves.map { $0.filter { $0 != name } }.filter { !$0.isEmpty }
        guard !phase.isFinal else {
            if [.switching, .restoring].contains(nodes[index].status) {
                nodes[index].status = .failed
                nodes[index].reason = reason
            }
            return []
        }
        switch nodes[index].status {
        case .distributing: return distributed(name, failure: reason, now: now)
        case .switching: return switched(name, .failed(reason), now: now)
        case .restoring: return restored(name, failure: reason, stillSwitched: false)
        case .pending, .distributed:
            // A later wave's node: left out of it (``startWave(now:)`` takes distributed nodes),
            // its failure counted as a switch failure would be.
            nodes[index].status = .failed
            nodes[index].reason = reason
            if phase == .switching || phase == .waiting, plan.onFailure != .continue, failedNodes.count > (acceptedFailures ?? 0),
                failureRatioExceeded
            {
                wakeAt = nil
                return failurePolicy(reason: failureReasons, now: now)
            }
            return []
        case .switched:
            // Not put back: it is gone.
            guard phase == .rollingBack else { return [] }
            return finishRollbackIfDone()
        case .failed, .noContainers, .restored: return []
        }
    }

    /// Nodes removed from the cluster during the rollout. (Optional: states stored before it decode.)
    public private(set) var removedNodes: [String]?
    /// Whether a rollback has begun (``lateRestored(_:failure:)`` after it ended `failed`).
    /// (Optional: states stored before it decode.)
    public private(set) var rollbackBegan: Bool?
    /// Failed nodes that still run the new containers (their late put-back failed before any
    /// rollback): a rollback puts them back with the switched ones. (Optional, as above.)
    public private(set) var stillSwitched: [String]?

    /// Whether node `name` was removed from the cluster.
    public func isRemoved(_ name: String) -> Bool { removedNodes?.contains(name) == true }

    /// What paused the rollout, for states stored before ``pauseCause`` too (read from the
    /// reason's words); nil when not paused.
    public var effectivePauseCause: PauseCause? {
        guard phase == .paused || phase == .waiting else { return nil }
        if let pauseCause { return pauseCause }
        guard let pauseReason else { return nil }
        if pauseReason.hasPrefix(Self.policyPause) { return .failurePolicy }
        return pauseReason.hasPrefix("canary wave done") ? .canary : .request
    }

    /// Time passed: a wait that is over starts the next wave.
    public mutating func tick(now: Int64) -> [Action] {
        guard phase == .waiting, let wakeAt, now >= wakeAt else { return [] }
        self.wakeAt = nil
        return startWave(now: now)
    }

    /// `pause`: no new wave starts (a wave in flight finishes).
    public mutating func pause(reason: String = "paused by request") throws(FerryError) -> [Action] {
        guard !phase.isFinal else { throw FerryError(.conflict, "rollout \(id) is \(phase.sentence); there is nothing to pause") }
        guard phase != .rollingBack else { throw FerryError(.conflict, "rollout \(id) is rolling back; it cannot be paused") }
        if phase == .distributing || phase == .switching || phase == .waiting {
            phase = .paused
            pauseReason = reason
            pauseCause = .request
            wakeAt = nil
        }
        return []
    }

    /// `resume`: the next wave starts (after a pause or a manual canary wait).
    public mutating func resume(now: Int64) throws(FerryError) -> [Action] {
        guard phase == .paused || phase == .waiting else {
            throw FerryError(.conflict, "rollout \(id) is \(phase.sentence), not paused; only a paused rollout resumes")
        }
        // States stored before `pauseCause` existed: the policy's pause by its reason's words.
        let policyPause = effectivePauseCause == .failurePolicy
        pauseReason = nil
        pauseCause = nil
        wakeAt = nil
        if nodes.contains(where: { $0.status == .distributing }) {
            phase = .distributing
            return []
        }
        if policyPause {
            // The operator saw these failures and goes on past them.
            acceptedFailures = failedNodes.count
        } else if plan.onFailure != .continue, failedNodes.count > (acceptedFailures ?? 0), failureRatioExceeded {
            // (`continue` goes on whatever failed: its policy would end the wave a second time.)
            // Failures that came while paused by request (a switch that failed meanwhile, or
            // nodes the image did not reach when distribution ended): the policy acts now.
            return failurePolicy(reason: failureReasons, now: now)
        }
        phase = .switching
        if waveInFlight { return [] }
        // The wave ended while paused by request: what follows its end (the canary wait,
        // `--delay`) still comes. A resume past the failure policy's pause is the operator's
        // word to go on: the next wave starts.
        if currentWaveStarted, !policyPause { return waveEnded(now: now) }
        return startWave(now: now)
    }

    /// `abort`: the rollout stops here, nodes left as they are (a node in the middle of its
    /// switch is told to halt after the container under way, when its follower understands halts). A
    /// `failed` rollout may be aborted too: it is closed, and its nodes forget what it replaced
    /// (it can no longer be rolled back).
    public mutating func abort() throws(FerryError) -> [Action] {
        guard !phase.isFinal || phase == .failed else { throw FerryError(.conflict, "rollout \(id) is already \(phase.sentence)") }
        phase = .aborted
        wakeAt = nil
        pauseReason = nil
        pauseCause = nil
        return [.finished(.aborted)]
    }

    /// `rollback`: every switched node is put back, in waves of `--max-parallel`.
    public mutating func rollback() throws(FerryError) -> [Action] {
        guard phase != .rolledBack, phase != .rollingBack else { throw FerryError(.conflict, "rollout \(id) is already \(phase.sentence)") }
        return beginRollback()
    }

    // MARK: Steps

    private var failureRatioOverTargets: Bool {
        let failed = failedNodes.count
        return failed > 0 && Double(failed) / Double(nodes.count) > plan.maxFailureRatio
    }

    private var waveInFlight: Bool { nodes.contains { $0.status == .switching } }

    /// Whether the current wave was started: some node of it switched, or is switching (a node
    /// that failed without being removed from the cluster failed its switch). Before,
    /// ``startWave(now:)`` switches none of them; it switches them all at once.
    private var currentWaveStarted: Bool {
        guard wave < waves.count else { return false }
        return waves[wave].contains { name in
            switch node(name)?.status {
            case .switching, .switched, .noContainers, .restoring, .restored: true
            case .failed: !isRemoved(name)
            default: false
            }
        }
    }

    private func index(of name: String) -> Int? { nodes.firstIndex { $0.name == name } }

    private mutating func startWave(now: Int64) -> [Action] {
        guard wave < waves.count else { return finish() }
        let names = waves[wave].filter { node($0)?.status == .distributed }
        phase = .switching
        guard !names.isEmpty else {
            wave += 1
            return startWave(now: now)
        }
        for name in names { nodes[index(of: name)!].status = .switching }
        return [.switchNodes(names)]
    }

    private mutating func waveEnded(now: Int64) -> [Action] {
        let wasCanary = plan.canary > 0 && wave == 0
        wave += 1
        guard wave < waves.count else { return finish() }
        if wasCanary {
            guard let wait = plan.canaryWaitMilliseconds else {
                phase = .paused
                pauseReason = "canary wave done; resume to go on"
                pauseCause = .canary
                return []
            }
            return waitThen(now + wait, now: now)
        }
        if plan.delayMilliseconds > 0 { return waitThen(now + plan.delayMilliseconds, now: now) }
        return startWave(now: now)
    }

    private mutating func waitThen(_ time: Int64, now: Int64) -> [Action] {
        guard time > now else { return startWave(now: now) }
        phase = .waiting
        wakeAt = time
        return [.wakeAt(time)]
    }

    /// How a pause of the failure policy's reason begins (read only from states stored before
    /// ``pauseCause``).
    static let policyPause = "failures past --max-failure-ratio "

    private mutating func failurePolicy(reason: String, now: Int64) -> [Action] {
        switch plan.onFailure {
        case .pause:
            phase = .paused
            pauseReason = "\(Self.policyPause)\(plan.maxFailureRatio): \(reason)"
            pauseCause = .failurePolicy
            return []
        case .rollback:
            return beginRollback()
        case .continue:
            // Distribution failures: start the first wave; a switch failure: the wave ended (a
            // failed canary waits as a passed one does).
            let distributing = phase == .distributing
            phase = .switching
            guard !waveInFlight else { return [] }
            return distributing ? startWave(now: now) : waveEnded(now: now)
        }
    }

    private mutating func beginRollback() -> [Action] {
        phase = .rollingBack
        rollbackBegan = true
        wakeAt = nil
        pauseReason = nil
        pauseCause = nil
        // Nodes removed from the cluster are not visited: they are gone. Failed nodes still on the
        // new containers are.
        let still = Set(stillSwitched ?? [])
        stillSwitched = nil
        let switched = nodes.filter { ($0.status == .switched || ($0.status == .failed && still.contains($0.name))) && !isRemoved($0.name) }.map(\.name)
        restoreWaves = RolloutPlan(maxParallel: plan.maxParallel).waves(of: switched)
        guard !restoreWaves.isEmpty else { return finishRollbackIfDone() }
        let first = restoreWaves.removeFirst()
        return restore(first)
    }

    private mutating func restore(_ names: [String]) -> [Action] {
        for name in names { nodes[index(of: name)!].status = .restoring }
        return [.restoreNodes(names)]
    }

    /// Ends the rollback once no node is switching or restoring: `rolledBack`, or `failed` when
    /// a node's restore failed and it still runs the new containers (before: `rolledBack` all the
    /// same, and its nodes were told to forget, so it could not be rolled back again).
    private mutating func finishRollbackIfDone() -> [Action] {
        guard !nodes.contains(where: { $0.status == .restoring || $0.status == .switching }), restoreWaves.isEmpty else { return [] }
        phase = nodes.contains { $0.status == .switched && !isRemoved($0.name) } ? .failed : .rolledBack
        return [.finished(phase)]
    }

    private mutating func finish() -> [Action] {
        phase = nodes.contains { $0.status == .failed } ? .failed : .succeeded
        return [.finished(phase)]
    }
}
