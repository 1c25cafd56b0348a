import AsyncHTTPClient
import FerryCore
import FerryDiagnostics
import FerryFormats
import Foundation
import Logging
import NIOCore
import NIOHTTP1

extension DockerClient {
    /// `GET /containers/json?all=1`: every container's ID, running or not.
    public func listContainers(logger: Logger = .disabled) async throws -> [String] {
        struct Summary: Decodable {
            var id: String
            enum CodingKeys: String, CodingKey { case id = "Id" }
        }
        let uri = try await versioned("/containers/json?all=1", logger: logger)
        let response = try await send(.GET, uri, timeout: configuration.requestTimeout, logger: logger)
        guard response.status == .ok else { throw await failure(response, what: "listing containers") }
        return try await decode([Summary].self, from: response, what: "container list").map(\.id)
    }

    /// `GET /containers/{id}/json`: the container, or nil when the engine has none by that name or ID.
    public func inspectContainer(_ nameOrID: String, logger: Logger = .disabled) async throws -> DockerContainer? {
        let uri = try await versioned("/containers/\(Self.pathComponent(nameOrID))/json", logger: logger)
        let response = try await send(.GET, uri, timeout: configuration.requestTimeout, logger: logger)
        switch response.status {
        case .ok:
            return try DockerContainer(inspect: try await decode(JSONValue.self, from: response, what: "container inspect of \(nameOrID)"))
        case .notFound:
            _ = try? await response.body.collect(upTo: 64 * 1024)
            return nil
        default:
            throw await failure(response, what: "inspecting container \(nameOrID)")
        }
    }

    /// `GET /images/{name}/json`, its `Config` (the defaults a container inherits); nil when the
    /// engine has no such image.
    public func imageConfig(_ nameOrID: String, logger: Logger = .disabled) async throws -> JSONValue? {
        let uri = try await versioned("/images/\(Self.pathComponent(nameOrID))/json", logger: logger)
        let response = try await send(.GET, uri, timeout: configuration.requestTimeout, logger: logger)
        switch response.status {
        case .ok:
            let json = try await decode(JSONValue.self, from: response, what: "image inspect of \(nameOrID)")
            return json["Config"] ?? .object([:])
        case .notFound:
            _ = try? await response.body.collect(upTo: 64 * 1024)
            return nil
        default:
            throw await failure(response, what: "inspecting image \(nameOrID)")
        }
    }

    /// `POST /containers/create?name=…`: creates (does not start) a container; returns its ID.
    public func createContainer(named name: String, _ request: ContainerRecreation.Request, logger: Logger = .disabled) async throws -> String {
        struct Created: Decodable {
            var id: String
            enum CodingKeys: String, CodingKey { case id = "Id" }
        }
        let uri = try await versioned("/containers/create?name=\(Self.queryValue(name))", logger: logger)
        let response = try await send(
            .POST, uri, headers: ["Content-Type": "application/json"], body: .bytes(ByteBuffer(bytes: try JSONEncoder().encode(request.body))),
            timeout: configuration.requestTimeout, logger: logger)
        guard response.status == .created else { throw await failure(response, what: "creating container \(name)", code: .conflictOr(response)) }
        let id = try await decode(Created.self, from: response, what: "container create").id
        for (network, endpoint) in request.laterNetworks.sorted(by: { $0.key < $1.key }) {
            try await connect(id, to: network, endpoint: endpoint, logger: logger)
        }
        logger.debug("docker container created", metadata: ["docker.container": "\(name)", "docker.id": "\(id.prefix(12))"])
        return id
    }

    /// `POST /networks/{network}/connect`.
    func connect(_ container: String, to network: String, endpoint: JSONValue, logger: Logger) async throws {
        let body = JSONValue.object(["Container": .string(container), "EndpointConfig": endpoint])
        let uri = try await versioned("/networks/\(Self.pathComponent(network))/connect", logger: logger)
        let response = try await send(
            .POST, uri, headers: ["Content-Type": "application/json"], body: .bytes(ByteBuffer(bytes: try JSONEncoder().encode(body))),
            timeout: configuration.requestTimeout, logger: logger)
        try await expectNoContent(response, accepting: [.ok], what: "connecting container \(container.prefix(12)) to network \(network)")
    }

    /// `POST /containers/{id}/start`; a running container is left as it is.
    public func startContainer(_ nameOrID: String, logger: Logger = .disabled) async throws {
        let uri = try await versioned("/containers/\(Self.pathComponent(nameOrID))/start", logger: logger)
        let response = try await send(.POST, uri, timeout: configuration.requestTimeout, logger: logger)
        try await expectNoContent(response, accepting: [.noContent, .notModified], what: "starting container \(nameOrID)")
    }

    /// `POST /containers/{id}/stop?t=…`: stop signal, then kill after `timeout`; a stopped
    /// container is left as it is.
    public func stopContainer(_ nameOrID: String, timeout: Duration = .seconds(10), logger: Logger = .disabled) async throws {
        let seconds = max(0, Int(timeout.components.seconds))
        let uri = try await versioned("/containers/\(Self.pathComponent(nameOrID))/stop?t=\(seconds)", logger: logger)
        let response = try await send(.POST, uri, timeout: configuration.requestTimeout + timeout, logger: logger)
        try await expectNoContent(response, accepting: [.noContent, .notModified], what: "stopping container \(nameOrID)")
    }

    /// `POST /containers/{id}/rename?name=…`.
    public func renameContainer(_ nameOrID: String, to name: String, logger: Logger = .disabled) async throws {
        let uri = try await versioned("/containers/\(Self.pathComponent(nameOrID))/rename?name=\(Self.queryValue(name))", logger: logger)
        let response = try await send(.POST, uri, timeout: configuration.requestTimeout, logger: logger)
        try await expectNoContent(response, accepting: [.noContent, .ok], what: "renaming container \(nameOrID) to \(name)")
    }

    /// `DELETE /containers/{id}?force=1`: removes the container (running or not), keeping its
    /// volumes; one already gone is not an error.
    public func removeContainer(_ nameOrID: String, logger: Logger = .disabled) async throws {
        let uri = try await versioned("/containers/\(Self.pathComponent(nameOrID))?force=1&v=0", logger: logger)
        let response = try await send(.DELETE, uri, timeout: configuration.requestTimeout, logger: logger)
        try await expectNoContent(response, accepting: [.noContent, .ok, .notFound], what: "removing container \(nameOrID)")
    }

    private func expectNoContent(_ response: HTTPClientResponse, accepting: [HTTPResponseStatus], what: String) async throws {
        guard accepting.contains(response.status) else {
            throw await failure(response, what: what, code: .conflictOr(response))
        }
        _ = try? await response.body.collect(upTo: 64 * 1024)
    }
}

extension FerryError.Code {
    /// ``conflict`` for the engine's 409 (name in use, container running), else ``internal``.
    static func conflictOr(_ response: HTTPClientResponse) -> FerryError.Code {
        response.status == .conflict ? .conflict : .internal
    }
}
