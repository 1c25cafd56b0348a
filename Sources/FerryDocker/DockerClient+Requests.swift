import AsyncHTTPClient
import FerryCore
import FerryDiagnostics
import FerryTransfer
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix

#if canImport(Glibc)
import Glibc
#endif

extension DockerClient {
    /// Sends a request to the engine; returns the response with its body not yet read.
    /// Connection failures become ``FerryError/Code/dockerUnreachable`` naming the socket.
    func send(
        _ method: HTTPMethod,
        _ uri: String,
        headers: HTTPHeaders = [:],
        body: HTTPClientRequest.Body? = nil,
        timeout: Duration,
        logger: Logger
    ) async throws -> HTTPClientResponse {
        guard let url = URL(httpURLWithSocketPath: socketPath, uri: uri) else {
            throw FerryError(.configuration, "cannot build a request URL for socket \(socketPath) and \(uri)")
        }
        var request = HTTPClientRequest(url: url.absoluteString)
        request.method = method
        request.headers = headers
        // dockerd (Go net/http) refuses HTTP/1.1 requests without a Host; over a unix socket
        // its value is arbitrary.
        request.headers.replaceOrAdd(name: "Host", value: "docker")
        request.headers.replaceOrAdd(name: "User-Agent", value: "ferry/\(FerryVersion.current)")
        request.body = body
        do {
            return try await http.execute(request, timeout: TimeAmount(timeout), logger: logger.forHTTPClient)
        } catch {
            throw unreachable(error)
        }
    }

    /// Reads a JSON body (bounded) and decodes it.
    func decode<T: Decodable>(_ type: T.Type, from response: HTTPClientResponse, what: String) async throws -> T {
        let body = try await response.body.collect(upTo: 64 * 1024 * 1024)
        do {
            return try JSONDecoder().decode(T.self, from: Data(body.readableBytesView))
        } catch let error as DecodingError {
            throw FerryError(.internal, "the Docker engine's answer to \(what) could not be read: \(error.shortDescription)")
        }
    }

    /// The engine's error for a non-2xx response: its `{"message":"…"}` text, or the status.
    func engineMessage(_ response: HTTPClientResponse) async -> String {
        struct Message: Decodable { var message: String }
        let body = (try? await response.body.collect(upTo: 64 * 1024)).map { Array($0.readableBytesView) } ?? []
        if let message = try? JSONDecoder().decode(Message.self, from: Data(body)), !message.message.isEmpty {
            return message.message
        }
        let text = String(decoding: body.prefix(300), as: UTF8.self).trimmingWhitespace()
        return text.isEmpty ? "HTTP \(response.status.code)" : "HTTP \(response.status.code): \(text)"
    }

    /// An error for a failed call: ``FerryError/Code/notFound`` for 404,
    /// ``FerryError/Code/invalidArgument`` for 400, else `code`.
    func failure(_ response: HTTPClientResponse, what: String, code: FerryError.Code = .internal) async -> FerryError {
        let message = await engineMessage(response)
        let mapped: FerryError.Code =
            switch response.status.code {
            case 404: .notFound
            case 400: .invalidArgument
            default: code
            }
        return FerryError(mapped, "the Docker engine refused \(what): \(message)")
    }

    /// Maps a transport error to ``FerryError/Code/dockerUnreachable`` with the reason in words.
    func unreachable(_ error: any Error) -> any Error {
        if error is FerryError || error is CancellationError { return error }
        let reason: String
        var info = stat()
        if stat(socketPath, &info) != 0 {
            reason = errno == EACCES ? "permission denied" : "no such socket"
        } else if info.st_mode & S_IFMT != S_IFSOCK {
            reason = "not a socket"
        } else {
            reason = TransportProblem(error)?.description ?? String("\(error)".prefix(160))
        }
        return FerryError(.dockerUnreachable, "cannot reach the Docker engine at \(host): \(reason)")
    }
}
