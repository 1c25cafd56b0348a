import FerryCore
import Foundation
import GRDB

/// An install target with what a node needs to act on it.
public struct TargetWork: Sendable, Hashable {
    public var target: InstallTargetRecord
    public var image: ImageRecord
}

extension FerryDatabase {
    /// Creates an install and its targets (one per node and image) in one transaction.
    /// `images` are image ids per node (each node may need its own platform's image row).
    public func createInstall(_ install: InstallRecord, targets: [(nodeID: Int64, imageIDs: [Int64])]) async throws -> InstallRecord {
        try await writer.write { db in
            var install = install
            try install.insert(db)
            for (nodeID, imageIDs) in targets {
                for (position, imageID) in imageIDs.enumerated() {
                    var target = InstallTargetRecord(installId: install.id!, nodeId: nodeID, imageId: imageID, position: position)
                    try target.insert(db)
                }
            }
            return install
        }
    }

    public func install(id: Int64) async throws -> InstallRecord? {
        try await writer.read { db in try InstallRecord.fetchOne(db, key: id) }
    }

    public func installs() async throws -> [InstallRecord] {
        try await writer.read { db in try InstallRecord.order(InstallRecord.Columns.id.desc).fetchAll(db) }
    }

    public func runningInstalls() async throws -> [InstallRecord] {
        try await writer.read { db in try InstallRecord.filter(InstallRecord.Columns.state == InstallState.running).fetchAll(db) }
    }

    public func targets(ofInstall installID: Int64) async throws -> [InstallTargetRecord] {
        try await writer.read { db in
            try InstallTargetRecord.filter(InstallTargetRecord.Columns.installId == installID)
                .order(InstallTargetRecord.Columns.nodeId, Column("position")).fetchAll(db)
        }
    }

    public func target(id: Int64) async throws -> InstallTargetRecord? {
        try await writer.read { db in try InstallTargetRecord.fetchOne(db, key: id) }
    }

    /// The unfinished targets of a node whose image the leader has resolved (its blobs may still
    /// be arriving: nodes start receiving them by cut-through): its work.
    public func work(forNode nodeID: Int64) async throws -> [TargetWork] {
        try await writer.read { db in
            let rows = try Row.fetchAll(
                db,
                sql: """
                    SELECT t.*, i.id AS i_id FROM install_targets t
                    JOIN installs s ON s.id = t.install_id
                    JOIN images i ON i.id = t.image_id
                    WHERE t.node_id = ? AND t.state NOT IN ('done', 'failed') AND s.state = 'running'
                      AND i.state IN ('fetching', 'present') AND i.manifest_digest IS NOT NULL
                    ORDER BY t.install_id, t.position
                    """,
                arguments: [nodeID])
            return try rows.map { row in
                let target = try InstallTargetRecord(row: row)
                let image = try ImageRecord.fetchOne(db, key: row["i_id"] as Int64)!
                return TargetWork(target: target, image: image)
            }
        }
    }

    /// Moves a target to `state` if the transition is allowed; returns the updated target, or
    /// nil if it was refused (unknown target, another node's, or a finished one).
    public func updateTarget(
        id: Int64, nodeID: Int64?, to state: TargetState, bytesDone: Int64? = nil, bytesTotal: Int64? = nil,
        error: FerryError? = nil, note: String? = nil, starting: Bool = false
    ) async throws -> InstallTargetRecord? {
        try await writer.write { db in
            guard var target = try InstallTargetRecord.fetchOne(db, key: id) else { return nil }
            if let nodeID, target.nodeId != nodeID { return nil }
            guard !target.state.isFinished, target.state == state || target.state.canMove(to: state) else { return nil }
            let now = Date()
            if starting || (state == .transferring && target.state == .waiting) {
                target.attempts += 1
                if target.startedAt == nil { target.startedAt = now }
            }
            if state.isFinished { target.finishedAt = now }
            target.state = state
            if let bytesDone { target.bytesDone = bytesDone }
            if let bytesTotal { target.bytesTotal = bytesTotal }
            if let error {
                target.errorCode = error.code.rawValue
                target.errorMessage = error.message
            }
            if let note { target.note = note }
            target.updatedAt = now
            try target.update(db)
            return target
        }
    }

    /// Grants a load slot: moves the target from `ready` to `loading` if fewer than the install's
    /// `maxParallel` nodes are loading (or this node already is). Atomic, so slots are never overbooked.
    public func grantLoad(targetID: Int64, nodeID: Int64) async throws -> Bool {
        try await writer.write { db in
            guard var target = try InstallTargetRecord.fetchOne(db, key: targetID), target.nodeId == nodeID else { return false }
            if target.state == .loading { return true }
            guard target.state == .ready, let install = try InstallRecord.fetchOne(db, key: target.installId) else { return false }
            let loading = try Int64.fetchAll(
                db, sql: "SELECT DISTINCT node_id FROM install_targets WHERE install_id = ? AND state = 'loading'",
                arguments: [target.installId])
            guard InstallRules.mayLoad(node: nodeID, loadingNodes: Set(loading), maxParallel: install.maxParallel) else { return false }
            target.state = .loading
            target.updatedAt = Date()
            try target.update(db)
            return true
        }
    }

    /// Marks every unfinished target of `imageID` failed (the image could not be fetched).
    public func failTargets(ofImage imageID: Int64, error: FerryError) async throws {
        try await writer.write { db in
            try db.execute(
                sql: """
                    UPDATE install_targets SET state = 'failed', error_code = ?, error_message = ?, finished_at = ?, updated_at = ?
                    WHERE image_id = ? AND state NOT IN ('done', 'failed')
                      AND install_id IN (SELECT id FROM installs WHERE state = 'running')
                    """,
                arguments: [error.code.rawValue, error.message, Date(), Date(), imageID])
        }
    }

    /// Gives back the load slots of nodes that went away mid-load (`loading` → `ready`).
    public func releaseLoads(ofNodes nodeIDs: [Int64]) async throws -> Int {
        guard !nodeIDs.isEmpty else { return 0 }
        return try await writer.write { db in
            try db.execute(
                sql: "UPDATE install_targets SET state = 'ready', updated_at = ? WHERE state = 'loading' AND node_id IN (\(nodeIDs.map { _ in "?" }.joined(separator: ",")))",
                arguments: StatementArguments([Date()] + nodeIDs))
            return db.changesCount
        }
    }

    /// Fails the unfinished targets of installs past their deadline.
    public func expireInstalls(now: Date = Date()) async throws -> Int {
        try await writer.write { db in
            try db.execute(
                sql: """
                    UPDATE install_targets SET state = 'failed', error_code = 'NOT_REACHED',
                      error_message = CASE WHEN state = 'waiting'
                        THEN 'the node was not reached before the install deadline'
                        ELSE 'the node did not finish before the install deadline' END,
                      finished_at = ?, updated_at = ?
                    WHERE state NOT IN ('done', 'failed')
                      AND install_id IN (SELECT id FROM installs WHERE state = 'running' AND deadline_at IS NOT NULL AND deadline_at <= ?)
                    """,
                arguments: [now, now, now])
            return db.changesCount
        }
    }

    /// Closes every running install whose targets are all finished; returns the ones closed.
    public func finishInstalls() async throws -> [InstallRecord] {
        try await writer.write { db in
            var finished: [InstallRecord] = []
            for var install in try InstallRecord.filter(InstallRecord.Columns.state == InstallState.running).fetchAll(db) {
                let states = try TargetState.fetchAll(
                    db, sql: "SELECT state FROM install_targets WHERE install_id = ?", arguments: [install.id!])
                guard let outcome = InstallRules.outcome(of: states) else { continue }
                install.state = outcome.failed ? .failed : .done
                install.finishedAt = Date()
                try install.update(db)
                finished.append(install)
            }
            return finished
        }
    }
}
