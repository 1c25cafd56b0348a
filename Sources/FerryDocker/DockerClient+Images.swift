import AsyncHTTPClient
import FerryCore
import FerryDiagnostics
import Foundation
import Logging
import NIOCore
import NIOHTTP1

extension DockerClient {
    /// `GET /images/{name}/json`: the image, or nil when the engine has none by that name or ID.
    public func inspectImage(_ nameOrID: String, logger: Logger = .disabled) async throws -> DockerImage? {
        let uri = try await versioned("/images/\(Self.pathComponent(nameOrID))/json", logger: logger)
        let response = try await send(.GET, uri, timeout: configuration.requestTimeout, logger: logger)
        switch response.status {
        case .ok:
            return try await decode(DockerImageInspect.self, from: response, what: "image inspect of \(nameOrID)").image
        case .notFound:
            _ = try? await response.body.collect(upTo: 64 * 1024)
            return nil
        default:
            throw await failure(response, what: "inspecting image \(nameOrID)")
        }
    }

    /// `GET /images/json`: the IDs of the engine's images (tagged and dangling, not intermediate).
    public func listImages(logger: Logger = .disabled) async throws -> [String] {
        let uri = try await versioned("/images/json", logger: logger)
        let response = try await send(.GET, uri, timeout: configuration.requestTimeout, logger: logger)
        guard response.status == .ok else { throw await failure(response, what: "listing images") }
        return try await decode([DockerImageSummary].self, from: response, what: "image list").map(\.id)
    }

    /// `POST /images/{name}/tag?repo=…&tag=…`: gives `image` the tag `reference`
    /// (`127.0.0.1:5000/demo/app:1`; without a tag, `latest`).
    public func tag(_ image: String, as reference: String, logger: Logger = .disabled) async throws {
        let (repository, tag) = Self.splitReference(reference)
        let query = "repo=\(Self.queryValue(repository))&tag=\(Self.queryValue(tag))"
        let uri = try await versioned("/images/\(Self.pathComponent(image))/tag?\(query)", logger: logger)
        let response = try await send(.POST, uri, timeout: configuration.requestTimeout, logger: logger)
        guard response.status == .created || response.status == .ok else {
            throw await failure(response, what: "tagging \(image) as \(reference)")
        }
        _ = try? await response.body.collect(upTo: 64 * 1024)
        logger.debug("docker image tagged", metadata: ["docker.image": "\(image)", "docker.tag": "\(reference)"])
    }

    /// Splits `name:tag` at the last `:` after the last `/` (a registry port is not a tag);
    /// no such `:` means tag `latest`.
    public static func splitReference(_ reference: String) -> (repository: String, tag: String) {
        let lastSlash = reference.lastIndex(of: "/") ?? reference.startIndex
        guard let colon = reference[lastSlash...].lastIndex(of: ":") else { return (reference, "latest") }
        return (String(reference[..<colon]), String(reference[reference.index(after: colon)...]))
    }

    /// A name or ID as a URL path segment (slashes kept: the engine's route takes them).
    static func pathComponent(_ name: String) -> String {
        var allowed = CharacterSet.urlPathAllowed
        allowed.remove(charactersIn: "?#%;")
        return name.addingPercentEncoding(withAllowedCharacters: allowed) ?? name
    }

    static func queryValue(_ value: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return value.addingPercentEncoding(withAllowedCharacters: allowed) ?? value
    }
}
