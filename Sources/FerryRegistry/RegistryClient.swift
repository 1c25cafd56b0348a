import AsyncHTTPClient
import FerryCore
import FerryFormats
import FerryPolicy
import FerryTransfer
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import Synchronization

/// A client of the Registry HTTP API v2 / OCI distribution pull path.
///
/// It handles the auth dance (anonymous, Basic, Bearer tokens cached per scope), retries with
/// backoff, resumable blob downloads, and never sends credentials anywhere but the registry
/// host (`Authorization` is dropped on cross-origin redirects). Redirects are followed only
/// where ``RedirectPolicy`` allows. Credentials never appear in logs or error messages.
public final class RegistryClient: Sendable {
    public let configuration: RegistryClientConfiguration
    let http: HTTPClient
    let credentials: RegistryCredentials
    let tokens = TokenCache()
    let rateLimiter: RateLimiter?
    /// What each host asked for last time, so later requests authenticate up front.
    private let schemes = Mutex<[String: AuthChallenge]>([:])
    /// Hosts whose `/v2/` answered like a registry.
    let probed = Mutex<Set<String>>([])

    public init(configuration: RegistryClientConfiguration = .init(), credentials: RegistryCredentials = .init()) throws(FerryError) {
        self.configuration = configuration
        self.credentials = credentials
        let tls = try configuration.tlsConfiguration()
        var httpConfiguration = HTTPClient.Configuration(
            tlsConfiguration: tls,
            // Redirects are followed by hand, each hop checked by `RedirectPolicy`.
            redirectConfiguration: .disallow,
            timeout: .init(connect: .init(configuration.connectTimeout), read: .init(configuration.readTimeout)),
            decompression: .disabled
        )
        httpConfiguration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = 16
        httpConfiguration.dnsOverride = configuration.hostOverrides
        // A refused connection is reported at once; the retry policy decides what happens next.
        httpConfiguration.connectionPool.retryConnectionEstablishment = false
        self.http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: httpConfiguration)
        self.rateLimiter = configuration.rateLimit.map { RateLimiter(bytesPerSecond: $0) }
    }

    /// Closes the connection pool. Call once, when done.
    public func shutdown() async throws {
        try await http.shutdown()
    }

    // MARK: Requests

    /// Sends a body-less request to `host`, authenticating as the registry asks (once per
    /// request) and following redirects the policy allows, and returns the response with its
    /// body not yet read.
    func send(
        _ method: HTTPMethod,
        host: String,
        path: String,
        repository: String?,
        headers: HTTPHeaders = [:],
        deadline: NIODeadline,
        logger: Logger
    ) async throws -> UpstreamResponse {
        let url = configuration.baseURL(for: host) + path
        var authorization = try await authorization(for: host, repository: repository, refresh: false, logger: logger)
        for pass in 0..<2 {
            var request = HTTPClientRequest(url: url)
            request.method = method
            request.headers = headers
            request.headers.replaceOrAdd(name: "User-Agent", value: configuration.userAgent)
            if let authorization { request.headers.replaceOrAdd(name: "Authorization", value: authorization) }
            let upstream = try await execute(request, registry: host, deadline: deadline, logger: logger)
            let response = upstream.response
            guard response.status == .unauthorized, pass == 0, upstream.redirectedTo == nil else { return upstream }
            let challenges = AuthChallenge.parse(response.headers["WWW-Authenticate"].joined(separator: ", "))
            guard let challenge = challenges.first(where: { $0.scheme == "bearer" }) ?? challenges.first(where: { $0.scheme == "basic" })
            else { return upstream }
            let previous = schemes.withLock { $0.updateValue(challenge, forKey: host) }
            let sentBearer = authorization?.hasPrefix("Bearer ") == true
            let refresh = sentBearer && (challenge.error == "invalid_token" || previous?.scheme == "bearer")
            guard let next = try await self.authorization(for: host, repository: repository, refresh: refresh, logger: logger),
                next != authorization || refresh
            else { return upstream }
            // Retrying with new credentials: this response is done with.
            _ = try? await response.body.collect(upTo: 64 * 1024)
            logger.debug("registry asked for authentication", metadata: ["host": "\(host)", "scheme": "\(challenge.scheme)"])
            authorization = next
        }
        preconditionFailure("unreachable")
    }

    /// The `Authorization` value for a request to `host`, from what the host asked before.
    private func authorization(for host: String, repository: String?, refresh: Bool, logger: Logger) async throws -> String? {
        guard let challenge = schemes.withLock({ $0[host] }) else { return nil }
        let credential = credentials.credential(for: host)
        switch challenge.scheme {
        case "basic":
            return credential?.basicAuthorization
        case "bearer":
            guard let realm = challenge.realm else { return nil }
            let scope = repository.map { "repository:\($0):pull" } ?? challenge.scope ?? ""
            let key = TokenCache.Key(realm: realm, service: challenge.service ?? "", scope: scope)
            if refresh { await tokens.invalidate(key) }
            let token = try await tokens.token(for: key) { [self] in
                try await fetchToken(key, host: host, credential: credential, logger: logger)
            }
            return "Bearer " + token
        default:
            return nil
        }
    }

    /// Maps a final (non-2xx) response to an error, reading the registry's JSON error body.
    /// 429 and 5xx become retryable failures. A redirect target's answer is named by its status
    /// alone: its body is not read.
    func failure(_ upstream: UpstreamResponse, host: String, what: String) async -> any Error {
        let response = upstream.response
        if let target = upstream.redirectedTo {
            let error = FerryError(
                .upstreamError, "\(target), where registry \(host) redirected the request for \(what), answered HTTP \(response.status.code)")
            return response.status.code == 429 || response.status.code >= 500 ? TransientFailure(error) : error
        }
        let body = (try? await response.body.collect(upTo: 64 * 1024)).map { Array($0.readableBytesView) } ?? []
        let registry = RegistryErrorResponse.summary(of: body)
        let said = registry.map { " (\($0.text))" } ?? ""
        let status = response.status
        switch status.code {
        case 401:
            if credentials.credential(for: host) == nil {
                return FerryError(.unauthorized, "registry \(host) requires authentication for \(what)\(said); add credentials for \(host) to the \(configuration.credentialsFlag) file")
            }
            return FerryError(.unauthorized, "registry \(host) refused the credentials for \(what)\(said); check the entry for \(host) in the \(configuration.credentialsFlag) file")
        case 403:
            return FerryError(.denied, "registry \(host) denied access to \(what)\(said)")
        case 404, 410:
            // 410 Gone is a not found that says it is for good: an answer, not an outage.
            let code: FerryError.Code =
                switch registry?.code {
                case "NAME_UNKNOWN": .nameUnknown
                case "BLOB_UNKNOWN": .blobUnknown
                default: .manifestUnknown
                }
            return FerryError(code, "\(what) not found on \(host)\(said.isEmpty ? " (HTTP \(status.code))" : said)")
        case 451:
            return FerryError(.denied, "registry \(host) refused \(what) for legal reasons (HTTP 451)\(said)")
        case 429:
            let retryAfter = response.headers.first(name: "Retry-After").flatMap(RetryAfter.parse)
            return TransientFailure(
                FerryError(.tooManyRequests, "registry \(host) is rate limiting requests for \(what) (HTTP 429)\(said)"),
                retryAfter: retryAfter
            )
        case 500...599:
            return TransientFailure(FerryError(.upstreamError, "registry \(host) failed on \(what) with HTTP \(status.code)\(said)"))
        default:
            return FerryError(.upstreamError, "registry \(host) answered HTTP \(status.code) for \(what)\(said)")
        }
    }

    // MARK: Retries

    /// Runs `operation`, retrying ``TransientFailure``s as the retry policy allows. The attempt
    /// count starts over whenever `operation` reports progress through `madeProgress`.
    func withRetries<T: Sendable>(
        what: String,
        logger: Logger,
        _ operation: (_ madeProgress: @escaping @Sendable () -> Void) async throws -> T
    ) async throws -> T {
        var attempt = 1
        while true {
            let progress = Mutex(false)
            do {
                return try await operation { progress.withLock { $0 = true } }
            } catch let failure as TransientFailure {
                if progress.withLock({ $0 }) { attempt = 1 }
                guard
                    let delay = configuration.retry.delay(
                        beforeRetry: attempt, retryAfter: failure.retryAfter, random: Double.random(in: 0...1))
                else {
                    var error = failure.error
                    if attempt > 1 { error.message += " (after \(attempt) attempts)" }
                    throw error
                }
                logger.info(
                    "retrying upstream request",
                    metadata: ["what": "\(what)", "attempt": "\(attempt)", "delay": "\(delay)", "reason": "\(failure.error.message)"])
                try await Task.sleep(for: delay)
                attempt += 1
            }
        }
    }
}

/// A failure worth retrying: a dropped or refused connection, a 5xx, a 429.
struct TransientFailure: Error {
    var error: FerryError
    var retryAfter: Duration?

    init(_ error: FerryError, retryAfter: Duration? = nil) {
        self.error = error
        self.retryAfter = retryAfter
    }

    /// The error for a request that got no response: TLS trust and protocol problems are final
    /// (retrying cannot fix them), anything else is worth another attempt.
    static func connectionFailure(_ error: any Error, host: String) -> any Error {
        if error is CancellationError { return error }
        let problem = TransportProblem(error)
        let failure = FerryError(.upstreamUnreachable, "cannot reach registry \(host): \(describe(problem, host: host, error: error))")
        return problem?.isTransient == false ? failure : TransientFailure(failure)
    }

    /// A readable account of a transport problem, with what to do about it where there is something.
    static func describe(_ problem: TransportProblem?, host: String, error: any Error) -> String {
        switch problem {
        case .tlsUntrusted?:
            "its TLS certificate is not trusted; give its CA with --ca-file, or check that the name matches the certificate"
        case .tlsNotSpoken?:
            "it does not speak TLS; if it is a plain-HTTP registry, allow it with --insecure-registry \(host)"
        case let problem?:
            problem.description
        case nil:
            String("\(error)".prefix(160))
        }
    }
}

/// Parses `Retry-After`: delay-seconds or an HTTP-date.
enum RetryAfter {
    static func parse(_ value: String) -> Duration? {
        let text = value.trimmingWhitespace()
        if let seconds = Int(text) { return .seconds(max(seconds, 0)) }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        guard let date = formatter.date(from: text) else { return nil }
        return .milliseconds(max(Int64(date.timeIntervalSinceNow * 1000), 0))
    }
}

extension RegistryClientConfiguration {
    /// The TLS settings the CA files give, each read and checked now (a daemon checks them
    /// before it writes anything): a file that cannot be read, or holds no certificate, is refused.
    public func tlsConfiguration() throws(FerryError) -> TLSConfiguration {
        var tls = TLSConfiguration.makeClientConfiguration()
        if let clusterCA {
            guard let roots = try? NIOSSLCertificate.fromPEMFile(clusterCA), !roots.isEmpty else {
                throw FerryError(.configuration, "cannot read the cluster CA '\(clusterCA)'")
            }
            tls.trustRoots = .certificates(roots)
            // Host names are checked: a follower reaches the leader under its reserved name.
            tls.certificateVerification = .fullVerification
        }
        if let caFile {
            guard FileManager.default.isReadableFile(atPath: caFile) else {
                throw FerryError(.configuration, "cannot read CA file '\(caFile)'")
            }
            guard let roots = try? NIOSSLCertificate.fromPEMFile(caFile), !roots.isEmpty else {
                throw FerryError(.configuration, "CA file '\(caFile)' holds no PEM certificate: give the registry's CA certificate (-----BEGIN CERTIFICATE-----)")
            }
            tls.additionalTrustRoots = [.certificates(roots)]
        }
        return tls
    }
}
