import FerryConcurrency
import FerryCore
import FerryDiagnostics
import FerryMesh
import FerryPolicy
import FerryState
import Foundation
import Logging
import Synchronization

/// The leader's side of rollouts: a thin driver around ``RolloutRecord`` (and its
/// ``RolloutState``). It creates a rollout and its install (phase 1, exactly `ferry install`),
/// feeds each target's end into the state machine, hands nodes their switch, restore and forget
/// items through the work long poll, applies their reports, wakes waits, counts silent nodes
/// failed, and stores the record after every event, so a restarted leader resumes every rollout
/// that is not over.
///
/// The record is changed in memory before it is stored: the store's commit wakes the work long
/// polls (``FerryDatabase/changes``), which then read the new items from memory.
final class RolloutCoordinator: Sendable {
    let database: FerryDatabase
    let installs: InstallCoordinator
    let logger: Logger
    /// Milliseconds since 1970 (injected by tests).
    let clock: @Sendable () -> Int64
    /// When this leader started (``clock``): a node's silence is counted from here at the
    /// earliest, since the leader heard nothing while it was down.
    let startedAt: Int64
    /// Whether a node answers heartbeats (injected by tests).
    let reachable: @Sendable (NodeRecord, Date) -> Bool
    /// How long creating a rollout waits for its image to resolve (``RolloutCoordinator/refuseUnresolvable(_:image:)``).
    let resolutionWait: Duration

    /// Rollouts with something left to do, by ID.
    let active = Mutex<[String: RolloutRecord]>([:])
    /// One event at a time: change, store, in that order.
    let gate = AsyncSemaphore(limit: 1)
    /// One ``create(_:)`` check at a time: its check for a rollout of the same repository and its
    /// reservation of the repository are one step (as are a rollback's check and its start).
    let creating = AsyncSemaphore(limit: 1)
    /// Repositories (`registry/repository`) a ``create(_:)`` holds while its image resolves,
    /// before its rollout is recorded: the wait holds no lock, so creating a rollout of another
    /// repository, or rolling one back, is not held up by it.
    let reserved = Mutex<Set<String>>([])

    init(
        database: FerryDatabase, installs: InstallCoordinator, logger: Logger,
        clock: @escaping @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970 * 1000) },
        reachable: @escaping @Sendable (NodeRecord, Date) -> Bool = { node, now in
            InstallRules.isReachable(lastSeen: node.lastSeen, now: now, heartbeat: MeshAPI.heartbeatInterval)
        },
        resolutionWait: Duration = .seconds(15)
    ) {
        self.resolutionWait = resolutionWait
        self.database = database
        self.installs = installs
        self.logger = logger
        self.clock = clock
        self.reachable = reachable
        self.startedAt = clock()
    }

    // MARK: Start

    /// Loads every rollout with something left to do (a leader restart resumes them).
    func recover() async throws {
        var loaded: [String: RolloutRecord] = [:]
        for stored in try await database.rollouts() {
            guard let record = try? RolloutStore.decode(stored.stateJSON) else {
                logger.error("cannot read a stored rollout; it is left as it is", metadata: ["rollout": "\(stored.id)"])
                continue
            }
            if record.isActive { loaded[record.id] = record }
        }
        active.withLock { $0 = loaded }
        try await store.updateMetrics()
        if !loaded.isEmpty { logger.notice("rollouts resumed", metadata: ["rollouts": "\(loaded.keys.sorted())"]) }
    }

    /// Until the database's change signal closes (graceful shutdown): distribution progress, waits
    /// that are over and silent nodes, at each change and at least every second.
    func run() async {
        let signal = database.changes
        while !Task.isCancelled, !signal.isClosed {
            let generation = signal.generation
            await step()
            await signal.wait(after: generation, timeout: .seconds(1))
        }
    }

    /// One pass of ``run()``.
    func step() async {
        let ids = active.withLock { Array($0.keys) }.sorted()
        guard !ids.isEmpty else { return }
        // The cluster's nodes, read once for every rollout of this step.
        let nodes: [NodeRecord]
        do {
            nodes = try await database.nodes()
        } catch {
            logger.warning("rollout step failed", metadata: ["error": "\((error as? FerryError)?.message ?? "\(error)")"])
            return
        }
        for id in ids {
            do {
                try await advance(id, nodes: nodes)
            } catch {
                logger.warning("rollout step failed", metadata: ["rollout": "\(id)", "error": "\((error as? FerryError)?.message ?? "\(error)")"])
            }
        }
    }

    private func advance(_ id: String, nodes: [NodeRecord]) async throws {
        guard let record = active.withLock({ $0[id] }) else { return }
        let now = clock()
        // Phase 1: each target that ended feeds `distributed`.
        if let installID = record.installID, record.state.nodes.contains(where: { $0.status == .distributing }) {
            let ended = try await database.targetsByNode(ofInstall: installID).compactMap { name, target -> (String, String?)? in
                guard target.state.isFinished, record.state.node(name)?.status == .distributing else { return nil }
                return (name, target.state == .done ? nil : (target.errorMessage ?? "the image did not reach the node"))
            }
            if !ended.isEmpty {
                try await update(id) { record in ended.flatMap { record.state.distributed($0.0, failure: $0.1, now: now) } }
            }
        }
        // A wait that is over.
        if record.state.phase == .waiting, let wakeAt = record.state.wakeAt, now >= wakeAt {
            try await update(id) { record in record.state.tick(now: now) }
        }
        // Nodes removed from the cluster that the rollout has not left out (the leader stopped,
        // or the database failed, between the removal and telling the rollouts).
        let known = Set(nodes.map(\.name))
        for node in record.state.nodes where !known.contains(node.name) && !record.state.isRemoved(node.name) {
            try await leaveOut(node.name, of: id)
        }
        guard let record = active.withLock({ $0[id] }) else { return }
        // Nodes silent past their deadline (each a failed switch in the metrics).
        let busy = record.state.nodes.contains { $0.status == .switching || $0.status == .restoring }
        if busy {
            let date = Date()
            let answering = Set(nodes.filter { reachable($0, date) }.map(\.name))
            let silent = record.silent(now: now, since: startedAt, reachable: answering.contains)
            if !silent.switching.isEmpty || !silent.restoring.isEmpty {
                // Counted from what the update did: a report may have come in meanwhile.
                let failed = Mutex(0)
                try await update(id) { [startedAt] record in
                    let switching = Set(record.state.nodes.filter { $0.status == .switching }.map(\.name))
                    let actions = record.failSilent(now: now, since: startedAt, reachable: answering.contains)
                    failed.withLock { $0 = switching.filter { record.state.node($0)?.status == .failed }.count }
                    return actions
                }
                for _ in 0..<failed.withLock({ $0 }) { FerryMetrics.countRolloutSwitch(outcome: "failed") }
            }
        }
        if !record.isActive { active.withLock { _ = $0.removeValue(forKey: id) } }
    }

    /// Node `name` was removed from the cluster: every rollout leaves it out (one waiting on it
    /// would wait for ever, and one whose next wave names it would hand it a switch).
    /// Besides the active rollouts, a `failed` one is told too: it may still be rolled back.
    func nodeRemoved(_ name: String) async throws {
        var ids = Set(active.withLock { active in active.filter { $0.value.state.node(name) != nil }.map(\.key) })
        for stored in try await database.rollouts() where stored.phase == RolloutState.Phase.failed.rawValue && !ids.contains(stored.id) {
            if let record = try? RolloutStore.decode(stored.stateJSON), record.state.node(name) != nil { ids.insert(stored.id) }
        }
        for id in ids.sorted() { try await leaveOut(name, of: id) }
    }

    /// Applies the removal of node `name` to rollout `id` (a switch it had under way counts
    /// failed in the switch metrics, as a silent node's does).
    private func leaveOut(_ name: String, of id: String) async throws {
        let now = clock()
        let wasSwitching = Mutex(false)
        try await update(id) { record in
            wasSwitching.withLock { $0 = record.state.node(name)?.status == .switching }
            return record.nodeRemoved(name, now: now)
        }
        if wasSwitching.withLock({ $0 }) { FerryMetrics.countRolloutSwitch(outcome: "failed") }
    }

    // MARK: Mesh

    /// Node `name`'s rollout work.
    func items(forNode name: String, halts: Bool = true) -> [SwitchWorkItem] {
        active.withLock { active in
            // A later rollout of the same repository may have delivered the very image a cleanup
            // would remove (a node away meanwhile): no cleanup while one is under way.
            let live = Set(active.values.filter { !$0.state.phase.isFinal }.flatMap(\.heldRepositories))
            return active.keys.sorted().flatMap { id in
                let record = active[id]!
                return record.items(for: name, halts: halts, cleanupAllowed: !live.contains(record.qualifiedRepository))
            }
        }
    }

    /// Node `node`'s report of its part of rollout `id`.
    func report(node: Int64, rollout id: String, _ report: SwitchReport) async throws {
        try report.validate()
        let report = report.withReasonCut
        guard let name = try await database.node(id: node)?.name else { throw FerryError(.notFound, "unknown node") }
        guard try await record(id) != nil else { throw RolloutStore.unknown(id) }
        let now = clock()
        // Whether this report decided the node's switch: a repeat, or a late one from a node
        // already counted failed while silent, is not counted in the metrics again.
        let decided = Mutex(false)
        let record = try await update(id) { record throws(FerryError) in
            let wasSwitching = record.state.node(name)?.status == .switching
            let actions = try record.apply(report, from: name, now: now)
            decided.withLock { $0 = RolloutRecord.decidesSwitch(report, wasSwitching: wasSwitching, now: record.state.node(name)?.status) }
            return actions
        }
        if decided.withLock({ $0 }) {
            FerryMetrics.countRolloutSwitch(outcome: report.outcome.rawValue)
            if report.outcome == .passed, let downtime = report.downtimeMilliseconds { FerryMetrics.recordRolloutDowntime(.milliseconds(downtime)) }
        }
        logger.info(
            "rollout report",
            metadata: [
                "rollout": "\(id)", "node": "\(name)", "action": "\(report.action.rawValue)", "outcome": "\(report.outcome.rawValue)",
                "containers": "\(report.containers)", "reason": "\(report.reason ?? "")", "phase": "\(record.state.phase.rawValue)",
            ])
    }

    // MARK: Records

    /// Applies an event to rollout `id` and stores the result (memory first: see the type's comment).
    @discardableResult
    func update(_ id: String, _ event: @Sendable (inout RolloutRecord) throws(FerryError) -> [RolloutState.Action]) async throws
        -> RolloutRecord
    {
        try await gate.withPermit {
            guard let before = try await record(id) else { throw RolloutStore.unknown(id) }
            var record = before
            let now = clock()
            let actions = try event(&record)
            guard record != before else { return record }
            record.started(actions, now: now)
            record.updatedAt = Date()
            active.withLock { $0[id] = record }
            do {
                try await store.save(record)
            } catch {
                active.withLock { $0[id] = before }
                throw error
            }
            for action in actions { record.log(action, to: logger) }
            if record.state.phase != before.state.phase { try await store.updateMetrics() }
            return record
        }
    }

    /// The record of `id`: in memory when active, else as stored.
    func record(_ id: String) async throws -> RolloutRecord? {
        if let record = active.withLock({ $0[id] }) { return record }
        return try await store.load(id)
    }

    /// Where the records are kept.
    var store: RolloutStore { RolloutStore(database: database) }

    func status(of record: RolloutRecord) async throws -> RolloutStatus {
        var progress: [String: (done: Int64, total: Int64)] = [:]
        if let installID = record.installID, record.state.phase == .distributing || record.state.nodes.contains(where: { $0.status == .distributing }) {
            for (name, target) in try await database.targetsByNode(ofInstall: installID) {
                progress[name] = (target.state == .done ? target.bytesTotal : target.bytesDone, target.bytesTotal)
            }
        }
        // Nodes not heard from while the rollout waits on them say so (as an install's targets
        // do), instead of a bare `distributing 0 B/0 B`.
        var silent: [String: Date] = [:]
        if !record.state.phase.isFinal {
            let now = Date()
            for node in try await database.nodes() where !reachable(node, now) { silent[node.name] = node.lastSeen }
        }
        return record.status(progress: progress, silentSince: silent)
    }
}
