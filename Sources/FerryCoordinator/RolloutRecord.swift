import FerryCore
import FerryMesh
import FerryPolicy
import Foundation

/// A rollout as the leader keeps it: the pure ``RolloutState`` plus what the leader needs to hand
/// nodes their work and to judge their reports. Stored whole as JSON (`rollouts.state_json`)
/// after every event, so a restarted leader resumes from it. Pure: the ``RolloutCoordinator``
/// does the I/O.
struct RolloutRecord: Codable, Sendable, Hashable {
    var state: RolloutState
    /// The registry and repository whose containers are replaced (`json_extract`ed by the
    /// leader's garbage collection, which keeps their images while the rollout may return to them).
    var registry: String
    var repository: String
    /// The install that distributes the image (phase 1).
    var installID: Int64?
    var createdAt: Date
    var updatedAt: Date
    /// When each node was handed its switch (milliseconds); kept after it ends: those nodes hold
    /// records of the rollout, which `forget` clears.
    var switchStarted: [String: Int64] = [:]
    /// When each node was handed its restore (milliseconds).
    var restoreStarted: [String: Int64] = [:]
    /// Nodes counted failed by the leader (silent past their deadline): each is told to put its
    /// containers back when it returns.
    var lateRestores: Set<String> = []
    /// Nodes that reported they forgot the rollout.
    var forgotten: Set<String> = []
    /// The last outcome each node reported for each action (`NODE:ACTION`): a repeat is accepted.
    var reports: [String: SwitchReport.Outcome] = [:]

    var id: String { state.id }

    /// `repository` as nodes match it: `registry/repository`.
    var qualifiedRepository: String { "\(registry)/\(repository)" }

    /// The repositories no other rollout may touch meanwhile: the one replaced, and the image's
    /// own (`--replace`: the containers switched run the image's repository from then on).
    var heldRepositories: Set<String> { Self.heldRepositories(replacing: qualifiedRepository, image: state.image) }

    /// ``heldRepositories`` of a rollout of `image` that replaces `replaced` (`registry/repository`).
    static func heldRepositories(replacing replaced: String, image: String) -> Set<String> {
        [replaced, (try? ImageReference(parsing: image).name) ?? replaced]
    }

    /// How long past its deadline a node that stopped answering is counted failed.
    static let silenceMargin: Int64 = 30_000
    /// After a leader starts, how long a node whose switch or restore began before it has to be
    /// heard from, at least: its heartbeats and its held report reach the new leader within this
    /// (a leader restarting in a loop still fails a dead node, a minute after each start).
    static let restartGrace: Int64 = 60_000

    /// Whether the rollout's nodes no longer need their records of it: over, and not one that may
    /// still be rolled back (`failed`).
    var forgets: Bool { [.succeeded, .aborted, .rolledBack].contains(state.phase) }

    /// Whether forgetting also removes the replaced images from the engines (`--cleanup`): only
    /// after success (aborted or rolled back, the old images may be wanted again).
    var cleansUp: Bool { state.plan.cleanup && state.phase == .succeeded }

    /// Whether anything is left to do: a phase that is not final, or nodes still to hear from.
    var isActive: Bool { touchesContainers || !pendingForgets.isEmpty }

    /// Why another rollout of its repository must wait (one line naming how to end the wait),
    /// or nil: it is not over, or nodes still in the cluster (`known`) are still switching or
    /// have containers to put back. A node removed from the cluster holds nothing.
    func holdsRepository(known: Set<String>) -> String? {
        if !state.phase.isFinal {
            return "rollout \(id) of \(qualifiedRepository) is \(state.phase.sentence): wait for it, or end it with 'ferry rollout abort \(id)' (or rollback)"
        }
        let busy = busyNodes.intersection(known).sorted()
        guard !busy.isEmpty else { return nil }
        return "rollout \(id) of \(qualifiedRepository) is \(state.phase.sentence) but waits for \(busy.joined(separator: ", ")) to finish switching or put containers back (a running follower reports within seconds: retry then); a node whose follower is down: start it, or, gone for good, 'ferry nodes remove --force NAME'"
    }

    /// Whether it may still switch or restore containers: not over, or nodes still switching or
    /// putting back.
    var touchesContainers: Bool { !state.phase.isFinal || !busyNodes.isEmpty }

    /// Nodes still switching or putting containers back, or to be told to put them back.
    var busyNodes: Set<String> {
        Set(state.nodes.filter { $0.status == .switching || $0.status == .restoring }.map(\.name)).union(lateRestores)
    }

    /// Nodes still to be told to forget the rollout.
    var pendingForgets: [String] {
        guard forgets else { return [] }
        return switchStarted.keys.sorted().filter { name in
            !forgotten.contains(name) && !lateRestores.contains(name)
                && ![.switching, .restoring].contains(state.node(name)?.status)
        }
    }

    // MARK: Work

    /// The work of node `name`: its switch, its restore, or forgetting the rollout.
    /// `halts`: whether the node understands halt items (else an aborted rollout's switch stays
    /// a plain switch, which it finishes).
    /// `cleanupAllowed`: no other rollout of the repository is under way (its image could be the
    /// one a cleanup would remove).
    func items(for name: String, halts: Bool = true, cleanupAllowed: Bool = true) -> [SwitchWorkItem] {
        guard let node = state.node(name) else { return [] }
        var actions: [SwitchWorkItem.Action] = []
        if node.status == .switching { actions.append(.switch) }
        if node.status == .restoring || lateRestores.contains(name) { actions.append(.restore) }
        if actions.isEmpty, pendingForgets.contains(name) { actions.append(.forget) }
        return actions.map { action in
            SwitchWorkItem(
                rolloutID: id, action: action, image: state.image, repository: qualifiedRepository, order: state.plan.order,
                minHealthyMilliseconds: state.plan.minHealthyMilliseconds, healthyDeadlineMilliseconds: state.plan.healthyDeadlineMilliseconds,
                cleanup: action == .forget && cleansUp && cleanupAllowed ? true : nil,
                // Aborted while the node switches: it stops after the container under way.
                halt: halts && action == .switch && state.phase == .aborted ? true : nil)
        }
    }

    /// Notes when the state machine's actions handed nodes a switch or a restore (the driver calls
    /// it after every event).
    mutating func started(_ actions: [RolloutState.Action], now: Int64) {
        for action in actions {
            switch action {
            case .switchNodes(let names): for name in names { switchStarted[name] = now }
            case .restoreNodes(let names):
                for name in names {
                    restoreStarted[name] = now
                    // A restore handed out again (a second rollback): its report is a new one.
                    reports["\(name):\(SwitchWorkItem.Action.restore.rawValue)"] = nil
                }
            default: break
            }
        }
    }

    // MARK: Reports

    /// Applies node `name`'s report; returns the state machine's actions. A repeat of the outcome
    /// last reported for the action is accepted and changes nothing; a report the rollout does
    /// not expect throws ``FerryError/Code/conflict``.
    mutating func apply(_ report: SwitchReport, from name: String, now: Int64) throws(FerryError) -> [RolloutState.Action] {
        guard let node = state.node(name) else { throw FerryError(.conflict, "node \(name) is not a target of rollout \(id)") }
        let key = "\(name):\(report.action.rawValue)"
        if reports[key] == report.outcome { return [] }
        let actions: [RolloutState.Action]
        switch report.action {
        case .switch where lateRestores.contains(name):
            // Counted failed while silent: the node is told to put its containers back anyway.
            actions = []
        case .switch:
            guard node.status == .switching else { throw unexpected(report, node) }
            let result: RolloutState.SwitchResult
            switch report.outcome {
            case .passed: result = .passed(containers: report.containers, downtimeMilliseconds: report.downtimeMilliseconds)
            case .failed: result = .failed(report.reason ?? "failed")
            case .noContainers: result = .noContainers
            case .restored, .forgotten: throw FerryError(.conflict, "a switch ends passed, failed or no-containers, not \(report.outcome.rawValue)")
            }
            actions = state.switched(name, result, now: now)
        case .restore:
            guard report.outcome == .restored || report.outcome == .failed || report.outcome == .noContainers else {
                throw FerryError(.conflict, "a restore ends restored or failed, not \(report.outcome.rawValue)")
            }
            if node.status == .restoring {
                // The rollback's restore (it covers a late one owed from before).
                lateRestores.remove(name)
                actions = state.restored(name, failure: report.outcome == .failed ? (report.reason ?? "failed") : nil)
            } else if lateRestores.remove(name) != nil {
                // Owed since the node was counted silent: during or after a rollback, whether
                // it put its containers back decides how the rollback ends.
                actions = state.lateRestored(name, failure: report.outcome == .failed ? (report.reason ?? "failed") : nil)
            } else {
                throw unexpected(report, node)
            }
        case .forget:
            guard report.outcome == .forgotten else { throw FerryError(.conflict, "forgetting ends forgotten, not \(report.outcome.rawValue)") }
            guard pendingForgets.contains(name) || forgotten.contains(name) else { throw unexpected(report, node) }
            forgotten.insert(name)
            actions = []
        }
        reports[key] = report.outcome
        return actions
    }

    /// Whether `report` decided a node's switch (counted in `ferry_rollout_node_switches_total`):
    /// the node was switching before it and is not after. A repeat, or a late report of a node
    /// already counted failed while silent, decides nothing.
    static func decidesSwitch(_ report: SwitchReport, wasSwitching: Bool, now status: RolloutState.NodeStatus?) -> Bool {
        report.action == .switch && wasSwitching && status != .switching
    }

    private func unexpected(_ report: SwitchReport, _ node: RolloutState.Node) -> FerryError {
        FerryError(
            .conflict,
            "rollout \(id) expects no \(report.action.rawValue) report from \(node.name): the node is \(node.status.rawValue) and the rollout \(state.phase.rawValue)")
    }

    /// Node `name` was removed from the cluster: the state machine leaves it out, nothing more
    /// is owed by it or handed to it (no late restore, no forget).
    mutating func nodeRemoved(_ name: String, now: Int64) -> [RolloutState.Action] {
        guard state.node(name) != nil else { return [] }
        lateRestores.remove(name)
        if switchStarted[name] != nil { forgotten.insert(name) }
        return state.removed(name, reason: "node removed from the cluster", now: now)
    }

    // MARK: Silence

    /// Nodes switching or restoring that are past their deadline (the plan's health gate plus
    /// ``silenceMargin``) and not reachable: `reachable` says which nodes answer heartbeats. The
    /// deadline runs from the switch's start, or from `since` (the leader's start) when later: a
    /// leader that was down longer than the deadline heard no report meanwhile, and failed
    /// nodes whose switch had passed, and put their containers back.
    func silent(now: Int64, since: Int64 = .min, reachable: (String) -> Bool) -> (switching: [String], restoring: [String]) {
        let budget = max(state.plan.healthyDeadlineMilliseconds, state.plan.minHealthyMilliseconds) + Self.silenceMargin
        func deadline(_ started: Int64?) -> Int64 {
            let started = started ?? now
            // Begun before this leader started: the node gets at least the restart grace from then.
            return started >= since ? started + budget : max(started + budget, since + Self.restartGrace)
        }
        let switching = state.nodes.filter { node in
            node.status == .switching && now >= deadline(switchStarted[node.name]) && !reachable(node.name)
        }
        let restoring = state.nodes.filter { node in
            node.status == .restoring && now >= deadline(restoreStarted[node.name]) && !reachable(node.name)
        }
        return (switching.map(\.name), restoring.map(\.name))
    }

    /// Counts the silent nodes failed (``silent(now:reachable:)``); a silent switching node is
    /// told to put its containers back when it returns.
    mutating func failSilent(now: Int64, since: Int64 = .min, reachable: (String) -> Bool) -> [RolloutState.Action] {
        let (switching, restoring) = silent(now: now, since: since, reachable: reachable)
        var actions: [RolloutState.Action] = []
        for name in switching {
            lateRestores.insert(name)
            actions += state.switched(name, .failed("the node stopped answering during its switch (no report within --healthy-deadline + 30s)"), now: now)
        }
        for name in restoring {
            lateRestores.insert(name)
            actions += state.restored(name, failure: "the node stopped answering during its restore", stillSwitched: false)
        }
        return actions
    }

    // MARK: View

    /// `silentSince`: nodes not heard from, with when they last were; one the rollout waits on
    /// (distributing, switching, restoring) says so in its reason.
    func status(progress: [String: (done: Int64, total: Int64)] = [:], silentSince: [String: Date] = [:], now: Date = Date()) -> RolloutStatus {
        RolloutStatus(
            id: id, image: state.image, repository: qualifiedRepository, phase: state.phase, plan: state.plan,
            nodes: state.nodes.map { node in
                var reason = node.reason
                if reason == nil, [.distributing, .switching, .restoring].contains(node.status), let lastSeen = silentSince[node.name] {
                    reason =
                        LeaderAdmin.unreachable(lastSeen: lastSeen, now: now)
                        + (node.status == .distributing
                            ? "the rollout waits for it (--distribute-deadline, or `ferry nodes remove --force \(node.name)`, ends the wait)"
                            : "counted failed unless it reports within --healthy-deadline + 30s")
                }
                return RolloutNodeStatus(
                    name: node.name, status: node.status, reason: reason, containers: node.containers,
                    downtimeMilliseconds: node.downtimeMilliseconds, bytesDone: progress[node.name]?.done, bytesTotal: progress[node.name]?.total)
            },
            wave: state.wave, waves: state.waves.count, pauseReason: state.pauseReason, pauseCause: state.effectivePauseCause,
            wakeAt: state.wakeAt.map { Date(timeIntervalSince1970: TimeInterval($0) / 1000) }, installID: installID, createdAt: createdAt,
            updatedAt: updatedAt)
    }
}
