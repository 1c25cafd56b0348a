import FerryCore
import FerryMesh
import FerryServer
import FerryState
import Foundation
import Logging

extension LeaderService: MeshBackend {
    public func join(_ request: JoinRequest) async throws -> JoinResponse {
        guard JoinRequest.isValidName(request.name) else {
            throw FerryError(.invalidArgument, "invalid node name '\(request.name.prefix(80))': use lowercase letters, digits, '.', '_' and '-', starting with a letter or digit, at most 63")
        }
        let platform = try Platform(parsing: request.platform)
        let credential = DataDirectory.randomToken()
        let node = try await database.join(
            name: request.name, address: request.address, platform: platform.description,
            credentialHash: LeaderCredentials.hash(credential))
        credentials.invalidate()
        logger.notice("node joined", metadata: ["node": "\(node.name)", "address": "\(node.address ?? "-")", "platform": "\(node.platform)"])
        signal.notify()
        return JoinResponse(
            nodeID: node.id!, name: node.name, credential: credential,
            heartbeatSeconds: Int(MeshAPI.heartbeatInterval.components.seconds))
    }

    public func heartbeat(node: Int64, _ heartbeat: Heartbeat) async throws {
        try await database.heartbeat(nodeID: node, dockerVersion: heartbeat.dockerVersion, dockerError: heartbeat.dockerError)
    }

    public func work(node: Int64, wait: Duration) async throws -> WorkResponse {
        try await installs.work(node: node, wait: wait)
    }

    public func report(node: Int64, target: Int64, _ report: TargetReport) async throws {
        try await installs.report(node: node, target: target, report)
    }

    public func requestLoad(node: Int64, target: Int64, wait: Duration) async throws -> LoadPermit {
        try await installs.requestLoad(node: node, target: target, wait: wait)
    }
}
