import AsyncHTTPClient
import FerryCore
import FerryDiagnostics
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import Synchronization

/// A manifest as received: the exact bytes (which are what gets stored and served), their
/// digest, and the decoded form.
public struct FetchedManifest: Sendable, Hashable {
    public var bytes: [UInt8]
    public var digest: Digest
    public var parsed: ParsedManifest

    public init(bytes: [UInt8], digest: Digest, parsed: ParsedManifest) {
        self.bytes = bytes
        self.digest = digest
        self.parsed = parsed
    }

    public var mediaType: String { parsed.mediaType }
    public var descriptor: Descriptor { Descriptor(mediaType: mediaType, digest: digest, size: Int64(bytes.count)) }
}

extension RegistryClient {
    /// Resolves a reference to the descriptor of the manifest it names, with a HEAD request
    /// (which does not count as a pull on Docker Hub). Falls back to a GET when the registry
    /// does not send `Docker-Content-Digest`.
    public func resolve(_ reference: ImageReference, logger: Logger = .disabled) async throws -> Descriptor {
        let reference = configuration.routed(reference)
        let what = "image \(reference)"
        let head = try await withRetries(what: what, logger: logger) { _ -> Descriptor? in
            let upstream = try await send(
                .HEAD, host: reference.registry, path: "/v2/\(reference.repository)/manifests/\(reference.manifestReference)",
                repository: reference.repository, headers: ["Accept": MediaType.manifestAccept],
                deadline: .now() + .seconds(60), logger: logger)
            let response = upstream.response
            guard response.status == .ok else {
                // HEAD responses carry no body: ask again with GET for the registry's error text.
                if response.status.code == 404 || response.status.code == 401 || response.status.code == 403 { return nil }
                throw await failure(upstream, host: reference.registry, what: what)
            }
            let contentType = response.headers.first(name: "Content-Type").map(MediaType.essence)
            if let contentType, MediaType.schema1.contains(contentType) {
                throw FerryError(
                    .unsupportedManifest,
                    "\(what) uses a Docker schema 1 manifest, which Ferry does not support; re-push it with a current docker or skopeo to get a schema 2 or OCI manifest")
            }
            guard let digestHeader = response.headers.first(name: "Docker-Content-Digest"),
                let digest = try? Digest(parsing: digestHeader),
                let length = response.headers.first(name: "Content-Length").flatMap({ Int64($0) }),
                let contentType
            else { return nil }
            if let pinned = reference.digest, pinned != digest {
                throw FerryError(.digestMismatch, "registry \(reference.registry) answered \(digest) for \(what)")
            }
            return Descriptor(mediaType: contentType, digest: digest, size: length)
        }
        if let head { return head }
        return try await fetchManifest(reference, logger: logger).descriptor
    }

    /// Fetches a manifest's bytes (capped at 4 MiB) and checks them: schema 1 is refused first,
    /// then the digest is computed over the exact bytes and compared with the pinned digest
    /// (or `Docker-Content-Digest` for a tag), and the size with `expectedSize` if given.
    ///
    /// `namespace` adds `?ns=<registry>`: the upstream a Ferry node's `/v2/` is asked about.
    public func fetchManifest(
        _ reference: ImageReference, expectedSize: Int64? = nil, namespace: String? = nil, logger: Logger = .disabled
    ) async throws -> FetchedManifest {
        let reference = configuration.routed(reference)
        let what = "image \(reference)"
        let query = namespace.map { "?ns=\($0.addingPercentEncoding(withAllowedCharacters: .urlQueryAllowed.subtracting(["&", "=", "+", "#"])) ?? $0)" } ?? ""
        return try await withRetries(what: what, logger: logger) { _ in
            let upstream = try await send(
                .GET, host: reference.registry, path: "/v2/\(reference.repository)/manifests/\(reference.manifestReference)\(query)",
                repository: reference.repository, headers: ["Accept": MediaType.manifestAccept],
                deadline: .now() + .seconds(120), logger: logger)
            let response = upstream.response
            guard response.status == .ok else { throw await failure(upstream, host: reference.registry, what: what) }
            if let length = response.headers.first(name: "Content-Length").flatMap(Int.init), length > ParsedManifest.maximumSize {
                // A redirect target's lengths are not echoed.
                let size = upstream.redirectedTo == nil ? "is \(length) bytes, " : "is "
                throw FerryError(.manifestTooLarge, "the manifest of \(what) \(size)over Ferry's 4 MiB limit")
            }
            let buffer: ByteBuffer
            do {
                buffer = try await response.body.collect(upTo: ParsedManifest.maximumSize)
            } catch is NIOTooManyBytesError {
                throw FerryError(.manifestTooLarge, "the manifest of \(what) is over Ferry's 4 MiB limit")
            } catch {
                if let target = upstream.redirectedTo, !(error is CancellationError) {
                    throw TransientFailure(FerryError(.upstreamUnreachable, "the manifest of \(what) from \(target) broke off"))
                }
                throw TransientFailure.connectionFailure(error, host: reference.registry)
            }
            let bytes = Array(buffer.readableBytesView)
            let parsed: ParsedManifest
            do {
                parsed = try ParsedManifest.decode(bytes, contentType: response.headers.first(name: "Content-Type"))
            } catch let error as FerryError {
                throw FerryError(error.code, "\(what): \(error.message)")
            }
            let algorithm = reference.digest?.algorithm ?? .sha256
            var digester = Digester(algorithm)
            digester.update(bytes)
            let digest = digester.finalize()
            if let pinned = reference.digest, pinned != digest {
                throw FerryError(.digestMismatch, "the manifest of \(what) does not match its digest (got \(digest)); the registry sent the wrong bytes")
            }
            if reference.digest == nil, let header = response.headers.first(name: "Docker-Content-Digest"),
                let claimed = try? Digest(parsing: header), claimed.algorithm == .sha256, claimed != digest
            {
                throw FerryError(.digestMismatch, "the manifest of \(what) does not match the registry's Docker-Content-Digest \(claimed) (got \(digest))")
            }
            if let expectedSize, expectedSize != Int64(bytes.count) {
                throw FerryError(.sizeMismatch, "the manifest of \(what) is \(bytes.count) bytes, but its descriptor says \(expectedSize)")
            }
            return FetchedManifest(bytes: bytes, digest: digest, parsed: parsed)
        }
    }

    /// Checks that `host` speaks the Registry API v2: `GET /v2/` must answer 200, or 401 with a
    /// challenge (the credentials are checked later, per repository). Done once per host.
    public func probe(_ host: String, logger: Logger = .disabled) async throws {
        let host = configuration.routedHost(host)
        if probed.withLock({ $0.contains(host) }) { return }
        try await withRetries(what: "registry \(host)", logger: logger) { _ in
            var request = HTTPClientRequest(url: configuration.baseURL(for: host) + "/v2/")
            request.headers.add(name: "User-Agent", value: configuration.userAgent)
            let response = try await execute(request, registry: host, deadline: .now() + .seconds(30), logger: logger).response
            _ = try? await response.body.collect(upTo: 64 * 1024)
            let challenged = response.status == .unauthorized && response.headers.contains(name: "WWW-Authenticate")
            guard response.status == .ok || challenged else {
                if response.status.code >= 500 || response.status.code == 429 {
                    throw TransientFailure(FerryError(.upstreamError, "registry \(host) failed on GET /v2/ with HTTP \(response.status.code)"))
                }
                throw FerryError(
                    .upstreamError,
                    "\(host) does not speak the Registry API v2 (GET /v2/ answered HTTP \(response.status.code)); check the registry host in the image reference")
            }
        }
        _ = probed.withLock { $0.insert(host) }
    }
}
