import FerryCore
import FerryMesh

/// Which install targets a follower runs, decided from the leader's work answers: a pure state
/// machine for ``FollowerService``.
///
/// - A target in an answer that is not running and was not finished here starts.
/// - A running target missing from an answer is over at the leader (finished, failed by a
///   deadline, its install closed): it stops at once, wherever it is (waiting for a source, a
///   download, a load slot, a load).
/// - A target that ended by itself is not started again from an answer computed before the
///   leader heard of it; one this node stopped may start again if the leader lists it again.
/// - A running target listed with another manifest digest (its tag was resolved again for
///   another install and had moved) is stopped and started over with the new digest once it has
///   ended; so is one listed again while it stops (``ended(_:)`` returns the item to run).
/// - The ids of the last answer go back to the leader (``known``), whose long poll then waits
///   for a change instead of answering at once while targets run.
/// - Rollout work (``SwitchWorkItem``) runs once per key while the leader lists it; unlike a
///   target it is never stopped half-way (a container switch finishes, or puts the node back),
///   and a key done here is not run again while it stays listed. A halt item (the rollout was
///   aborted) tells the switch of its rollout running here to stop after the container under
///   way; with none running or done here (the node restarted), it runs, to report that.
struct FollowerWork: Sendable, Equatable {
    /// What to do after an answer.
    struct Changes: Sendable, Equatable {
        var start: [WorkItem] = []
        var stop: [Int64] = []
        /// Of `stop`: the targets stopped because their digest moved (started over once ended).
        var moved: [Int64] = []
    }

    private(set) var running: Set<Int64> = []
    /// Running targets this node was told to stop, not ended yet.
    private(set) var stopping: Set<Int64> = []
    /// Targets that ended by themselves here (done, failed, or given up), still in answers.
    private(set) var finished: Set<Int64> = []
    /// The manifest digest each running target runs with.
    private(set) var digests: [Int64: Digest] = [:]
    /// Stopping targets to start over once ended, with the item of the latest answer.
    private(set) var restarts: [Int64: WorkItem] = [:]
    /// The target ids of the last answer, sorted.
    private(set) var known: [Int64] = []
    /// Rollout work running here, by ``SwitchWorkItem/key``.
    private(set) var runningSwitches: Set<String> = []
    /// Rollout work done and reported here, still in answers.
    private(set) var finishedSwitches: Set<String> = []
    /// The rollout work keys of the last answer, sorted.
    private(set) var knownSwitches: [String] = []
    /// The rollout work of the last answer, listed as itself or as its halt
    /// (``SwitchWorkItem/key`` and ``SwitchWorkItem/haltedKey``).
    private var listedSwitches: Set<String> = []
    /// Running rollout work already told to halt.
    private(set) var haltedSwitches: Set<String> = []

    /// The leader answered with `items`.
    mutating func answered(_ items: [WorkItem]) -> Changes {
        let listed = Set(items.map(\.targetID))
        known = listed.sorted()
        var changes = Changes()
        for id in running.subtracting(listed).subtracting(stopping).sorted() {
            stopping.insert(id)
            changes.stop.append(id)
        }
        restarts = restarts.filter { listed.contains($0.key) }
        for item in items where running.contains(item.targetID) {
            let id = item.targetID
            if stopping.contains(id) {
                restarts[id] = item
            } else if let digest = digests[id], digest != item.manifestDigest {
                stopping.insert(id)
                changes.stop.append(id)
                changes.moved.append(id)
                restarts[id] = item
            }
        }
        for item in items where !running.contains(item.targetID) && !finished.contains(item.targetID) {
            running.insert(item.targetID)
            digests[item.targetID] = item.manifestDigest
            changes.start.append(item)
        }
        // Finished targets the leader no longer lists are forgotten: it never lists them again.
        finished.formIntersection(listed)
        return changes
    }

    /// The runner of target `id` returned: nil, or the item to run it again with at once (it
    /// stays running); never one unless `mayRestart` (the follower is stopping).
    mutating func ended(_ id: Int64, mayRestart: Bool = true) -> WorkItem? {
        if let next = restarts.removeValue(forKey: id), mayRestart {
            stopping.remove(id)
            digests[id] = next.manifestDigest
            return next
        }
        running.remove(id)
        digests.removeValue(forKey: id)
        if stopping.remove(id) == nil { finished.insert(id) }
        return nil
    }

    /// What to do after an answer's rollout work.
    struct SwitchChanges: Sendable, Equatable {
        var start: [SwitchWorkItem] = []
        /// Keys of running work to stop after the container under way.
        var halt: [String] = []
    }

    /// The leader listed `items` as this node's rollout work: the ones to start, and the running
    /// ones to halt.
    mutating func answered(switches items: [SwitchWorkItem]) -> SwitchChanges {
        knownSwitches = Set(items.map(\.key)).sorted()
        // Work listed as itself or as its halt.
        let listed = Set(items.map(\.key)).union(items.map(\.haltedKey))
        listedSwitches = listed
        var changes = SwitchChanges()
        for item in items where item.halt == true && runningSwitches.contains(item.haltedKey) && !haltedSwitches.contains(item.haltedKey) {
            haltedSwitches.insert(item.haltedKey)
            changes.halt.append(item.haltedKey)
        }
        for item in items where !runningSwitches.contains(item.key) && !finishedSwitches.contains(item.key) {
            // A halt of work running or done here is no work of its own.
            if item.halt == true, runningSwitches.contains(item.haltedKey) || finishedSwitches.contains(item.haltedKey) { continue }
            runningSwitches.insert(item.key)
            changes.start.append(item)
        }
        finishedSwitches.formIntersection(listed)
        return changes
    }

    /// The rollout work `key` ended here and was reported (or the leader refused the report).
    /// Work the leader no longer lists is forgotten at once: kept, it would be taken for done
    /// when listed again (a second rollback's restore has the first's key).
    mutating func switchEnded(_ key: String) {
        haltedSwitches.remove(key)
        if runningSwitches.remove(key) != nil, listedSwitches.contains(key) { finishedSwitches.insert(key) }
    }
}
