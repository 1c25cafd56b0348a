import AsyncHTTPClient
import FerryCore
import FerryDiagnostics
import FerryFormats
import Foundation
import Logging
import NIOCore
import NIOHTTP1

extension DockerClient {
    /// Credentials for a registry the engine pulls from, sent as `X-Registry-Auth` (base64url of
    /// this JSON). The engine uses them for that one pull; it keeps nothing.
    public struct RegistryAuth: Sendable, Encodable, Equatable {
        public var username: String
        public var password: String
        public var serveraddress: String

        public init(username: String, password: String, serverAddress: String) {
            self.username = username
            self.password = password
            self.serveraddress = serverAddress
        }

        /// The header value: base64url JSON, as the Docker CLI sends it.
        var header: String {
            let json = (try? JSONEncoder().encode(self)) ?? Data()
            return json.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
        }
    }

    /// `POST /images/create?fromImage=REPOSITORY&tag=TAG_OR_DIGEST`: the engine pulls the image
    /// from its registry (verifying every blob's digest and each layer's DiffID as it extracts)
    /// and reads its JSON message stream to the end. Fails with ``FerryError/Code/dockerLoadFailed``
    /// ("docker pull failed: <the engine's message>") on a non-200 answer, on any message with
    /// `error`/`errorDetail`, or on an unreadable stream.
    public func pull(_ repository: String, reference: String, auth: RegistryAuth?, logger: Logger = .disabled) async throws {
        let query = "fromImage=\(Self.queryValue(repository))&tag=\(Self.queryValue(reference))"
        let uri = try await versioned("/images/create?\(query)", logger: logger)
        var headers = HTTPHeaders()
        if let auth { headers.add(name: "X-Registry-Auth", value: auth.header) }
        logger.debug("docker pull starting", metadata: ["docker.image": "\(repository)", "docker.reference": "\(reference)"])
        let response = try await send(.POST, uri, headers: headers, timeout: configuration.loadTimeout, logger: logger)
        guard response.status == .ok else {
            throw FerryError(.dockerLoadFailed, "docker pull failed: \(await engineMessage(response))")
        }
        var parser = DockerJSONMessageParser()
        var failure: String?
        do {
            for try await buffer in response.body {
                for message in try parser.feed(buffer.readableBytesView) where failure == nil {
                    failure = message.errorMessage
                }
            }
            for message in try parser.finish() where failure == nil { failure = message.errorMessage }
        } catch let error as DockerJSONMessageParser.ParseError {
            throw FerryError(.dockerLoadFailed, "docker pull failed: the engine's answer could not be read: \(error.message)")
        }
        if let failure { throw FerryError(.dockerLoadFailed, "docker pull failed: \(failure)") }
        logger.debug("docker pull finished", metadata: ["docker.image": "\(repository)", "docker.reference": "\(reference)"])
    }

    /// `DELETE /images/{name}?noprune=1`: removes one name of an image (a tag or a
    /// `name@digest`); the image stays while it has other names, and no parent is pruned.
    /// A name the engine does not know is not an error.
    /// `timeout`: how long the engine may take (default ``Configuration/requestTimeout``).
    public func removeName(_ name: String, timeout: Duration? = nil, logger: Logger = .disabled) async throws {
        let uri = try await versioned("/images/\(Self.pathComponent(name))?noprune=1", logger: logger)
        let response = try await send(.DELETE, uri, timeout: timeout ?? configuration.requestTimeout, logger: logger)
        switch response.status {
        case .ok, .notFound:
            _ = try? await response.body.collect(upTo: 1024 * 1024)
        default:
            throw await failure(response, what: "removing the name \(name)")
        }
    }
}
