import AsyncHTTPClient
import FerryCore
import FerryDiagnostics
import Logging
import NIOCore
import NIOHTTP1

extension DockerClient {
    /// Pings the engine and negotiates the API version.
    ///
    /// `GET /_ping` (unversioned) gives the engine's `Api-Version`; the lower of it and
    /// ``Configuration/maximumAPIVersion`` becomes the prefix of every later call. Then
    /// `GET /vX.Y/version` gives the engine's release. The result is cached; calling again
    /// renegotiates (an engine may have been upgraded behind the socket).
    ///
    /// Throws ``FerryError/Code/dockerUnreachable`` naming the socket and the reason when the
    /// engine cannot be reached.
    @discardableResult
    public func ping(logger: Logger = .disabled) async throws -> DockerEngineInfo {
        let timeout = configuration.requestTimeout
        let response = try await send(.GET, "/_ping", timeout: timeout, logger: logger)
        guard response.status == .ok else {
            let message = await engineMessage(response)
            throw FerryError(.dockerUnreachable, "the Docker engine at \(host) answered /_ping with \(message)")
        }
        _ = try? await response.body.collect(upTo: 4096)
        let header = response.headers.first(name: "Api-Version")
        let version = DockerAPIVersion.negotiate(serverHeader: header, clientMaximum: configuration.maximumAPIVersion)

        struct Version: Decodable {
            var version: String?
            var os: String?
            enum CodingKeys: String, CodingKey {
                case version = "Version"
                case os = "Os"
            }
        }
        let versionResponse = try await send(.GET, "\(version.pathPrefix)/version", timeout: timeout, logger: logger)
        guard versionResponse.status == .ok else {
            throw await failure(versionResponse, what: "GET /version (API \(version))", code: .dockerUnreachable)
        }
        let body = try await decode(Version.self, from: versionResponse, what: "GET /version")
        let info = DockerEngineInfo(
            apiVersion: version.description, serverVersion: body.version ?? "unknown",
            os: body.os ?? response.headers.first(name: "Ostype") ?? "unknown")
        remember(info)
        logger.debug(
            "docker engine answered",
            metadata: ["docker.host": "\(host)", "docker.api": "\(info.apiVersion)", "docker.version": "\(info.serverVersion)"])
        return info
    }
}
