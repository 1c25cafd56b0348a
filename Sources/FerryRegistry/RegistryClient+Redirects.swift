import AsyncHTTPClient
import FerryCore
import FerryDiagnostics
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix

/// A response from upstream, and where it came from.
struct UpstreamResponse {
    var response: HTTPClientResponse
    /// The host (`host:port`) the last redirect led to; nil when the registry answered without
    /// one. Errors about a redirected response never echo its body, its lengths or its transport
    /// failures.
    var redirectedTo: String?
}

extension RegistryClient {
    /// Executes `request` (a request to `registry`, or to a URL it named), following its
    /// redirects as ``RedirectPolicy`` allows. `Authorization` is dropped once a redirect leaves
    /// the original origin. A refused redirect throws a permanent ``FerryError/Code/redirectRefused``
    /// naming the registry and the refused host (never the URL's path or query: presigned URLs
    /// carry secrets).
    func execute(
        _ request: HTTPClientRequest, registry: String, naming first: String? = nil, deadline: NIODeadline, logger: Logger
    ) async throws -> UpstreamResponse {
        guard let url = URL(string: request.url), let origin = RedirectPolicy.Origin(url) else {
            throw FerryError(.upstreamError, "registry \(registry) gave an invalid URL")
        }
        let registryURL = URL(string: configuration.baseURL(for: registry)).flatMap(RedirectPolicy.Origin.init) ?? origin
        let configuration = self.configuration
        let policy = RedirectPolicy(registry: registryURL, allowsPlainHTTP: { configuration.allowsPlainHTTP($0) })
        var registryAddresses: [HostAddress]?
        var current = request
        var currentURL = url
        var redirectedTo: String?
        if registryURL != origin {
            // A URL the registry named (a token realm): held to the same address rule as a redirect.
            try await checkAddresses(of: origin, registry: registry, policy: policy, known: &registryAddresses)
        }
        for hop in 1... {
            let response: HTTPClientResponse
            do {
                response = try await http.execute(current, deadline: deadline, logger: logger.forHTTPClient)
            } catch {
                if error is CancellationError { throw error }
                guard let redirectedTo else { throw TransientFailure.connectionFailure(error, host: first ?? registry) }
                // One message for every failure: the leader's errors must not map a network for the upstream.
                throw TransientFailure(FerryError(.upstreamUnreachable, "cannot download from \(redirectedTo), where registry \(registry) redirected the request"))
            }
            guard let location = Self.redirectLocation(response), let next = URL(string: location, relativeTo: currentURL)?.absoluteURL else {
                return UpstreamResponse(response, redirectedTo: redirectedTo)
            }
            _ = try? await response.body.collect(upTo: 64 * 1024)
            let target: RedirectPolicy.Origin
            switch policy.check(next, hop: hop) {
            case .success(let origin): target = origin
            case .failure(let refusal): throw Self.refused(refusal, registry: registry, target: RedirectPolicy.Origin(next))
            }
            try await checkAddresses(of: target, registry: registry, policy: policy, known: &registryAddresses)
            let sameOrigin = RedirectPolicy.Origin(currentURL) == target
            current = Self.following(current, to: next, status: response.status, sameOrigin: sameOrigin)
            currentURL = next
            redirectedTo = target.description
            logger.debug("following upstream redirect", metadata: ["registry": "\(registry)", "to": "\(target)", "hop": "\(hop)"])
        }
        preconditionFailure("unreachable")
    }

    /// Refuses `target` when one of its addresses is special and the registry is not there.
    private func checkAddresses(
        of target: RedirectPolicy.Origin, registry: String, policy: RedirectPolicy, known registryAddresses: inout [HostAddress]?
    ) async throws {
        guard let addresses = try await resolve(target.host) else {
            throw TransientFailure(FerryError(.upstreamUnreachable, "cannot download from \(target), where registry \(registry) redirected the request"))
        }
        guard addresses.contains(where: \.isSpecial) else { return }
        if registryAddresses == nil { registryAddresses = try await resolve(policy.registry.host) ?? [] }
        if let refused = RedirectPolicy.refusedAddress(addresses, registry: registryAddresses ?? []) {
            throw Self.refused(.specialAddress(refused), registry: registry, target: target)
        }
    }

    /// The addresses of `host`, after `hostOverrides` (where the HTTP client connects).
    private func resolve(_ host: String) async throws -> [HostAddress]? {
        let name = configuration.hostOverrides[host] ?? host
        if let literal = HostAddress(name) { return [literal] }
        return try await NIOThreadPool.singleton.runIfActive { HostAddress.resolve(name) }
    }

    private static func refused(_ refusal: RedirectPolicy.Refusal, registry: String, target: RedirectPolicy.Origin?) -> FerryError {
        FerryError(
            .redirectRefused,
            "registry \(registry) redirected a request to \(target?.description ?? "an unusable location"), which Ferry does not follow: \(refusal.reason)")
    }

    /// The `Location` of a redirect response, if it is one.
    private static func redirectLocation(_ response: HTTPClientResponse) -> String? {
        switch response.status {
        case .movedPermanently, .found, .seeOther, .temporaryRedirect, .permanentRedirect:
            return response.headers.first(name: "Location")
        default:
            return nil
        }
    }

    /// The request to send to a redirect target: a 303 turns a GET-like request into a GET; the
    /// registry's credentials stay with its origin.
    private static func following(_ request: HTTPClientRequest, to url: URL, status: HTTPResponseStatus, sameOrigin: Bool) -> HTTPClientRequest {
        var next = HTTPClientRequest(url: url.absoluteString)
        next.method = status == .seeOther && request.method != .HEAD ? .GET : request.method
        next.headers = request.headers
        if !sameOrigin {
            for name in ["Authorization", "Proxy-Authorization", "Cookie", "Origin"] { next.headers.remove(name: name) }
        }
        return next
    }
}

extension UpstreamResponse {
    init(_ response: HTTPClientResponse, redirectedTo: String?) {
        self.response = response
        self.redirectedTo = redirectedTo
    }
}
