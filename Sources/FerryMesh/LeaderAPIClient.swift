import AsyncHTTPClient
import FerryCore
import FerryTransfer
import Foundation
import NIOCore
import NIOHTTP1

/// JSON over HTTP to the leader, with a bearer credential: what ``AdminClient`` and
/// ``MeshClient`` are built on.
struct LeaderAPIClient: Sendable {
    let baseURL: String
    let token: String
    /// How the credential is named in errors ("admin token", "node credential").
    let credentialName: String
    let credentialAdvice: String
    /// The cluster CA to trust for `https://` leaders.
    let caFile: String?
    /// Whether the server must present the leader's certificate (false: a follower's local admin
    /// route, whose certificate is checked by chain only).
    var expectsLeader = true
    /// Whether a server error (5xx) is thrown as transient whatever its code: a follower waits out
    /// a leader that cannot write now (a full disk answers 507), while the CLI shows the code.
    var serverErrorsAreTransient = false

    /// Sends a request and decodes the answer; a 204 decodes as ``Empty``.
    func call<Response: Decodable>(
        _ method: HTTPMethod, _ path: String, body: (some Encodable)? = Optional<Int>.none, timeout: Duration = .seconds(30)
    ) async throws -> Response {
        let leader = try NodeAddress(leaderURL: baseURL)
        if leader.scheme == .https && caFile == nil {
            throw FerryError(
                .configuration, "the leader at \(baseURL) uses TLS: give its cluster CA with --ca (the leader's DATA_DIR/ca.pem) or FERRY_CA")
        }
        let http = try MeshHTTP.client(caFile: leader.scheme == .https ? caFile : nil, leader: expectsLeader ? leader : nil)
        // Over TLS the request goes to the leader's reserved name: only the leader's certificate
        // holds it, so nothing (not the credential) is sent to a node posing as the leader.
        var request = HTTPClientRequest(url: (expectsLeader ? MeshHTTP.leaderURL(leader) : leader.description) + path)
        request.method = method
        try SecretText.refuseUnprintable(token, what: credentialName, from: "where it came from (FERRY_TOKEN, --token-file, the node's credential)")
        request.headers.add(name: "Authorization", value: "Bearer \(token)")
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: try FerryJSON.encoder().encode(body)))
        }
        let response: HTTPClientResponse
        let data: Data
        do {
            response = try await http.execute(request, timeout: .init(timeout))
            data = Data((try await response.body.collect(upTo: 64 * 1024 * 1024)).readableBytesView)
        } catch {
            throw FerryError(.upstreamUnreachable, "cannot reach the leader at \(baseURL) (\(Self.describe(error)))\(Self.advice(error, baseURL: baseURL))")
        }
        guard (200..<300).contains(response.status.code) else {
            if response.status == .unauthorized {
                // A known credential refused for a reason (an expired join token): the leader's words.
                if let reason = try? FerryJSON.decoder().decode(ErrorResponse.self, from: data).errors.first?.message,
                    reason != MeshAPI.authenticationRequired
                {
                    throw FerryError(.unauthorized, "the leader at \(baseURL) refused the \(credentialName): \(reason)")
                }
                throw FerryError(.unauthorized, "the leader at \(baseURL) refused the \(credentialName); \(credentialAdvice)")
            }
            if let error = try? FerryJSON.decoder().decode(ErrorResponse.self, from: data).errors.first {
                let answer = error.ferryError
                if serverErrorsAreTransient, response.status.code >= 500, !answer.isTransient {
                    throw FerryError(.upstreamError, "the leader at \(baseURL) answered HTTP \(response.status.code): \(answer.message)")
                }
                throw answer
            }
            throw FerryError(.upstreamError, "the leader at \(baseURL) answered HTTP \(response.status.code)")
        }
        if Response.self == Empty.self { return Empty() as! Response }
        do {
            return try FerryJSON.decoder().decode(Response.self, from: data)
        } catch {
            throw FerryError(.upstreamError, "the leader at \(baseURL) sent a response this ferry cannot read (version mismatch?)")
        }
    }

    /// What to try for a transport problem: a TLS one is not a leader that is down, and a closed
    /// connection on `http://` is most likely a TLS leader.
    static func advice(_ error: any Error, baseURL: String) -> String {
        switch TransportProblem(error) {
        case .tlsUntrusted?: "; check the CA given: the cluster's is the leader's DATA_DIR/ca.pem"
        case .tlsNotSpoken?: ""
        case _ where baseURL.hasPrefix("http://"): "; is `ferry leader` running there? (a leader without --insecure-mesh speaks https://)"
        default: "; is `ferry leader` running there?"
        }
    }

    /// A transport problem in words, with what to do about the TLS ones.
    static func describe(_ error: any Error) -> String {
        switch TransportProblem(error) {
        case .tlsUntrusted?: "its TLS certificate is not the leader's certificate from the cluster CA given"
        case .tlsNotSpoken?: "it does not speak TLS (is it running with --insecure-mesh?)"
        case let problem?: problem.description
        case nil: String("\(error)".prefix(120))
        }
    }
}

/// An empty response body (HTTP 204).
public struct Empty: Codable, Sendable, Hashable {
    public init() {}
}
