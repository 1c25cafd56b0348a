import FerryConcurrency
import FerryCore
import FerryMesh
import FerryPolicy
import FerryState
import Foundation
import Logging
import Synchronization

/// What the admin API asks of rollouts: create one, list them, show one, pause, resume, abort
/// or roll back.
extension RolloutCoordinator {
    /// Creates a rollout: checks the request, creates the install of phase 1, stores the record.
    /// Refused (`409`) while another rollout of the same repository is not over.
    func create(_ request: RolloutRequest) async throws -> RolloutStatus {
        let prepared = try await creating.withPermit { try await prepare(request) }
        defer { reserved.withLock { $0.subtract(prepared.repositories) } }
        try await refuseUnresolvable(prepared.install, image: prepared.image)
        return try await start(prepared)
    }

    /// A rollout checked and its install created, its repositories reserved.
    struct PreparedRollout {
        var image: ImageReference
        var plan: RolloutPlan
        var names: [String]
        var replace: ImageReference
        var install: InstallRecord
        var repositories: Set<String> { RolloutRecord.heldRepositories(replacing: replace.name, image: image.description) }
    }

    /// Checks `request`, creates the install of phase 1 and reserves the repository; under
    /// ``creating``.
    private func prepare(_ request: RolloutRequest) async throws -> PreparedRollout {
        let plan = request.plan ?? RolloutPlan()
        try plan.validate()
        try InstallCoordinator.refuseEmptyNodeList(request.nodes)
        let image = try ImageReference(parsing: request.image)
        // The tag must be written out: an untagged name parses as `:latest`, rarely the version meant.
        let tagged = request.image.split(separator: "/").last?.contains(":") ?? false
        guard image.digest == nil, tagged, image.tag != nil else {
            throw FerryError(
                .invalidArgument, "a rollout needs a tagged image such as \(image.name):1.2 (got \(request.image)): nodes' engines name the new image by its tag")
        }
        let replace = try request.replacedRepository(of: image)
        let known = try await database.nodes()
        let asked = (request.nodes ?? []).filter { $0 != "all" }
        // A mistyped node is named as such, even while the repository is busy.
        try InstallCoordinator.refuseUnknownNodes(asked, known: known.map(\.name))
        try checkRepositoryFree(RolloutRecord.heldRepositories(replacing: replace.name, image: image.description), known: Set(known.map(\.name)))
        var names = asked.isEmpty ? known.map(\.name) : []
        for name in asked where !names.contains(name) { names.append(name) }
        guard plan.canary <= names.count else {
            throw FerryError(
                .invalidArgument, "--canary \(plan.canary) is more than the \(names.count) target node\(names.count == 1 ? "" : "s"): give at most \(names.count)")
        }
        let deadline = plan.distributeDeadlineMilliseconds.map { Int(($0 + 999) / 1000) }
        let install = try await installs.createInstall(
            InstallRequest(images: [image.description], nodes: asked.isEmpty ? nil : names, deadlineSeconds: deadline))
        let prepared = PreparedRollout(image: image, plan: plan, names: names, replace: replace, install: install)
        reserved.withLock { $0.formUnion(prepared.repositories) }
        return prepared
    }

    /// Records the rollout and starts it.
    private func start(_ prepared: PreparedRollout) async throws -> RolloutStatus {
        let (image, plan, names, replace, install) = (prepared.image, prepared.plan, prepared.names, prepared.replace, prepared.install)
        let now = Date()
        var record = RolloutRecord(
            state: RolloutState(id: RolloutStore.newID(), image: image.description, plan: plan, nodes: names), registry: replace.registry,
            repository: replace.repository, installID: install.id, createdAt: now, updatedAt: now)
        _ = record.state.start()
        try await gate.withPermit {
            active.withLock { $0[record.id] = record }
            try await store.save(record)
        }
        logger.notice(
            "rollout created",
            metadata: [
                "rollout": "\(record.id)", "image": "\(image)", "replace": "\(record.qualifiedRepository)", "nodes": "\(names.count)",
                "install": "\(install.id ?? 0)", "max_parallel": "\(plan.maxParallel)", "canary": "\(plan.canary)", "order": "\(plan.order.rawValue)",
            ])
        try await store.updateMetrics()
        return try await status(of: record)
    }

    /// Waits, at most ``resolutionWait`` (15 s), for the install's image to resolve, and throws its
    /// fetch's error if it failed (a tag the upstream does not have, a refused credential, no
    /// manifest for the nodes' platform): refused with one line instead of a rollout recorded
    /// only to pause at once and hold the repository. An image still resolving after the wait
    /// goes on as before: the rollout pauses if it fails later.
    private func refuseUnresolvable(_ install: InstallRecord, image: ImageReference) async throws {
        guard let installID = install.id else { return }
        let imageIDs = Set(try await database.targets(ofInstall: installID).map(\.imageId))
        let images = try await database.changes.poll(
            for: resolutionWait,
            read: { () async throws -> [ImageRecord] in
                var records: [ImageRecord] = []
                for id in imageIDs { if let record = try await database.image(id: id) { records.append(record) } }
                return records
            },
            until: { (records: [ImageRecord]) -> Bool in
                records.contains { $0.state == .failed } || !records.contains { $0.state == .pending }
            })
        // Another install's failed resolution of the tag leaves this one's targets going on with
        // the held digests: only a failure of this install's own targets refuses the rollout.
        let targets = try await database.targets(ofInstall: installID)
        guard let failed = images.first(where: { image in image.state == .failed && targets.contains { $0.imageId == image.id && $0.state == .failed } })
        else { return }
        logger.notice("rollout refused: its image did not resolve", metadata: ["image": "\(image)", "install": "\(installID)"])
        let code = FerryError.Code(failed.errorCode ?? FerryError.Code.upstreamError.rawValue)
        let message = "no rollout of \(image): \(failed.errorMessage ?? "its fetch failed")"
        // The upstream refusing the leader's credentials is not the caller's 401 (the admin
        // token): answered as the upstream's error, its code in the message.
        guard ![FerryError.Code.unauthorized, .denied, .tooManyRequests].contains(code) else {
            throw FerryError(.upstreamError, "\(message) (\(code.rawValue) from the registry)")
        }
        throw FerryError(code, message)
    }

    /// One rollout per repository at a time, as Swarm updates a service: two would switch the
    /// same containers at once, each taking the other's for leftovers. A rollout holds the
    /// repository it replaces and its image's (``RolloutRecord/heldRepositories``). Throws `409`
    /// naming the rollout (other than `except`) that holds one of `repositories`, and how to end
    /// the wait.
    func checkRepositoryFree(_ repositories: Set<String>, known: Set<String>, except: String? = nil) throws(FerryError) {
        if let creating = reserved.withLock({ $0.intersection(repositories).min() }) {
            throw FerryError(.conflict, "a rollout of \(creating) is being created (its image resolving); wait for it, before starting another")
        }
        let holding = active.withLock { active in
            active.values.filter { !$0.heldRepositories.isDisjoint(with: repositories) && $0.id != except }.sorted { $0.id < $1.id }
                .lazy.compactMap { $0.holdsRepository(known: known) }.first
        }
        if let holding { throw FerryError(.conflict, holding + ", before starting another") }
    }

    /// Every rollout, newest first.
    func rollouts() async throws -> RolloutList {
        var list: [RolloutStatus] = []
        for stored in try await database.rollouts().reversed() {
            guard let record = try? RolloutStore.decode(stored.stateJSON) else { continue }
            list.append(try await status(of: active.withLock { $0[record.id] } ?? record))
        }
        return RolloutList(rollouts: list)
    }

    /// The rollout `id`, or nil.
    func rollout(id: String) async throws -> RolloutStatus? {
        guard let record = try await record(id) else { return nil }
        return try await status(of: record)
    }

    /// Pause, resume, abort or roll back rollout `id`.
    func control(_ id: String, _ control: RolloutControl) async throws -> RolloutStatus {
        // A rollback switches containers again: it waits for the repository as a new rollout does.
        guard control == .rollback else { return try await apply(id, control) }
        return try await creating.withPermit {
            guard let record = try await record(id) else { throw RolloutStore.unknown(id) }
            try checkRepositoryFree(record.heldRepositories, known: Set(try await database.nodes().map(\.name)), except: id)
            // A later rollout of the repository switched its containers since: rolling this one
            // back would silently undo that one too.
            if let newer = try await newerRollout(than: record) {
                throw FerryError(
                    .conflict,
                    "rollout \(newer) of \(record.qualifiedRepository) started after \(id): rolling \(id) back would undo it too; roll \(newer) back first, or roll the old image out with a new rollout")
            }
            return try await apply(id, control)
        }
    }

    /// The ID of the newest rollout created after `record` that replaced containers of one of its
    /// repositories (``RolloutRecord/heldRepositories``: after `--replace`, its containers run
    /// its image's) and whose switches still stand, if any: one rolled back, or one that ended
    /// (aborted, failed) without switching a node, left the containers as they were.
    private func newerRollout(than record: RolloutRecord) async throws -> String? {
        var newest: RolloutRecord?
        for stored in try await database.rollouts() {
            guard let other = try? RolloutStore.decode(stored.stateJSON), other.id != record.id,
                record.heldRepositories.contains(other.qualifiedRepository), other.createdAt > record.createdAt
            else { continue }
            let current = active.withLock { $0[other.id] } ?? other
            if current.state.phase == .rolledBack { continue }
            if [.aborted, .failed].contains(current.state.phase), current.switchStarted.isEmpty { continue }
            if newest.map({ current.createdAt > $0.createdAt }) ?? true { newest = current }
        }
        return newest?.id
    }

    private func apply(_ id: String, _ control: RolloutControl) async throws -> RolloutStatus {
        guard try await record(id) != nil else { throw RolloutStore.unknown(id) }
        let now = clock()
        let record = try await update(id) { record throws(FerryError) in
            switch control {
            case .pause: return try record.state.pause()
            case .resume: return try record.state.resume(now: now)
            case .abort: return try record.state.abort()
            case .rollback:
                guard ![.succeeded, .aborted].contains(record.state.phase) else {
                    throw FerryError(
                        .conflict,
                        "rollout \(id) is \(record.state.phase.sentence): its nodes no longer keep what it replaced; roll the old image out with a new rollout")
                }
                return try record.state.rollback()
            }
        }
        logger.notice("rollout \(control.rawValue)", metadata: ["rollout": "\(id)", "phase": "\(record.state.phase.rawValue)"])
        return try await status(of: record)
    }
}
