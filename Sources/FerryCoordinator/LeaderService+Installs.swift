import FerryCore
import FerryMesh
import FerryServer
import FerryState
import Foundation

extension LeaderService {
    public func install(_ request: InstallRequest) async throws -> InstallStatus {
        let install = try await installs.createInstall(request)
        return try await status(of: install)
    }

    public func installs() async throws -> InstallList {
        var list: [InstallStatus] = []
        for install in try await database.installs() { list.append(try await status(of: install)) }
        return InstallList(installs: list)
    }

    public func install(id: Int64) async throws -> InstallStatus? {
        guard let install = try await database.install(id: id) else { return nil }
        return try await status(of: install)
    }

    public func nodes() async throws -> NodeList {
        let held = try await database.heldImages()
        let flagged = await tracker.flagged
        let now = Date()
        return NodeList(nodes: try await database.nodes().map { node in
            NodeStatus(
                name: node.name, address: node.address, platform: node.platform, lastSeen: node.lastSeen,
                state: InstallRules.isReachable(lastSeen: node.lastSeen, now: now, heartbeat: MeshAPI.heartbeatInterval) ? .reachable : .unreachable,
                dockerVersion: node.dockerVersion, dockerError: node.dockerError, images: held[node.id!] ?? [],
                corruptTransfers: flagged[node.name] ?? 0)
        })
    }

    func status(of install: InstallRecord) async throws -> InstallStatus {
        let targets = try await database.targets(ofInstall: install.id!)
        let nodes = Dictionary(uniqueKeysWithValues: try await database.nodes().map { ($0.id!, $0.name) })
        var images: [Int64: ImageRecord] = [:]
        for id in Set(targets.map(\.imageId)) { images[id] = try await database.image(id: id) }
        var references: [String] = []
        for target in targets.sorted(by: { $0.position < $1.position }) {
            let reference = images[target.imageId]?.reference ?? "?"
            if !references.contains(reference) { references.append(reference) }
        }
        return InstallStatus(
            id: install.id!, state: install.state, images: references,
            nodes: Array(Set(targets.compactMap { nodes[$0.nodeId] })).sorted(),
            maxParallel: install.maxParallel, createdAt: install.createdAt, finishedAt: install.finishedAt,
            deadlineAt: install.deadlineAt,
            targets: targets.map { target in
                let image = images[target.imageId]
                var error = target.errorCode.map { ErrorEntry(code: $0, message: target.errorMessage ?? $0) }
                // A target waiting on an image the leader could not fetch carries the image's reason.
                if error == nil, target.state == .waiting, image?.state == .failed, let code = image?.errorCode {
                    error = ErrorEntry(code: code, message: image?.errorMessage ?? code)
                }
                return TargetStatus(
                    id: target.id!, node: nodes[target.nodeId] ?? "?", image: image?.reference ?? "?", state: target.state,
                    bytesDone: target.bytesDone, bytesTotal: target.bytesTotal == 0 ? (image?.size ?? 0) : target.bytesTotal,
                    attempts: target.attempts, error: error, note: target.note, startedAt: target.startedAt, finishedAt: target.finishedAt)
            })
    }
}
