import FerryCore
import FerryDiagnostics
import FerryFormats
import FerryMesh
import FerryPolicy
import FerryState
import FerryStore
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// The OCI distribution read API (`/v2/`) over the node's store: manifests by tag and digest,
/// blobs with HEAD and `Range`, tag lists with `n`/`last` pagination.
///
/// Repository names map to upstreams the way containerd mirrors expect: `?ns=<upstream host>`
/// names the upstream registry; without it, the configured default upstream is used.
///
/// On the leader a node credential reads only what the node has business with
/// (``NodeReads/ownImages``); anything else answers exactly as if it were absent.
public struct RegistryReadAPI: Sendable {
    /// What a node credential may read here.
    public enum NodeReads: Sendable, Equatable {
        /// Everything (a follower: the only node credential it accepts is its own).
        case unrestricted
        /// Only blobs and manifests of images the node is installing or holds
        /// (``FerryDatabase/node(_:mayRead:)``); other content is `BLOB_UNKNOWN` or
        /// `MANIFEST_UNKNOWN`, word for word as when the leader does not hold it, and tag lists
        /// are `NAME_UNKNOWN`. The leader's choice: a node learns nothing about other images.
        case ownImages
    }

    let database: FerryDatabase
    let store: BlobStore
    let defaultRegistry: String?
    /// Shared by every blob this node serves (`--max-upload-rate`).
    let uploadLimiter: RateLimiter?
    let nodeReads: NodeReads
    let manifestFallback: ManifestFallback?
    let blobFallback: BlobFallback?
    let cutThrough: CutThrough
    /// Reached after every chunk of a blob this API sends (the fault suite's crash points).
    public var servingFailpoint: Failpoint?

    /// How a blob still arriving in the store is served.
    public enum CutThrough: Sendable, Equatable {
        /// What has arrived, as it lands; the reader verifies: the leader's, relaying upstream
        /// bytes to followers (an accusation against it makes it re-hash its own copy).
        case unverified
        /// As it lands but the blob's last byte only once the blob verified: what a follower
        /// serves its peers. A node relaying what a lying source sends it never passes on a
        /// whole wrong blob (its receiver's transfer breaks off instead), so no conclusive report
        /// of corrupt bytes names an honest relay (docs/mesh.md, *Evidence*).
        case verifiedEnd
        /// ``verifiedEnd``, and a blob the node
        /// expects (``BlobStore/expectArrivals(_:of:)``) but has not started receiving is waited
        /// for rather than unknown: what the follower's loopback registry serves the node's
        /// Docker engine (and containerd), which pull while the blobs arrive and must never get
        /// a whole wrong blob. A blob that fails verification, or stops arriving, ends its
        /// response early (the client sees a broken transfer, never a complete one).
        case verified
    }

    /// Asked for a manifest this node has no record of: (registry, repository, tag or digest) →
    /// the manifest, or nil when it is unknown there too. The registry is nil for a digest asked
    /// without `?ns=` (content by digest needs no upstream). A follower asks its leader (one
    /// question, whose answer is not kept), so that its containerd resolves tags of images the
    /// node is installing; the leader answers only about the node's own images.
    public typealias ManifestFallback = @Sendable (_ registry: String?, _ repository: String, _ reference: String) async throws -> ManifestRecord?

    /// Asked for a blob this node does not hold and does not expect (with ``CutThrough/verified``
    /// only: the loopback registry): (registry, repository, digest) → its size, once the blob is
    /// announced as arriving in the store (``BlobStore/expectArrivals(_:of:)``) and on its way, or
    /// nil when it cannot come. A follower brings it from the mesh, as an install would, so that
    /// its containerd pulls an image of the node's whose blobs its collection removed without
    /// going upstream.
    public typealias BlobFallback = @Sendable (_ registry: String?, _ repository: String, _ digest: Digest) async throws -> Int64?

    public init(
        database: FerryDatabase, store: BlobStore, defaultRegistry: String?, uploadLimiter: RateLimiter? = nil,
        nodeReads: NodeReads = .unrestricted, manifestFallback: ManifestFallback? = nil, blobFallback: BlobFallback? = nil,
        cutThrough: CutThrough = .unverified
    ) {
        self.cutThrough = cutThrough
        self.database = database
        self.store = store
        self.defaultRegistry = defaultRegistry
        self.uploadLimiter = uploadLimiter
        self.nodeReads = nodeReads
        self.manifestFallback = manifestFallback
        self.blobFallback = blobFallback
    }

    public func addRoutes(to router: Router<FerryRequestContext>) {
        for path: RouterPath in ["/v2", "/v2/**"] {
            router.get(path) { request, context in try await self.handle(request, context: context) }
            router.head(path) { request, context in try await self.handle(request, context: context) }
            for method: HTTPRequest.Method in [.put, .post, .patch, .delete] {
                router.on(path, method: method) { request, context -> Response in
                    // Whoever may not read learns nothing more about the API than a refusal.
                    try Self.requireReader(request, context: context)
                    var refusal = try FerryError(.unsupported, "this registry is read-only: \(request.method) is not supported; push to the upstream instead")
                        .response(from: request, context: context)
                    refusal.headers[.allow] = "GET, HEAD"
                    return refusal
                }
            }
        }
    }

    /// Refuses a principal that may not read the registry API: a peer token gets `401` (it opens
    /// `GET`/`HEAD` of its one blob only, see ``handle(_:context:)``), a join token `403`.
    static func requireReader(_ request: Request, context: FerryRequestContext) throws {
        if case .peer = context.principal?.role {
            throw FerryError(.unauthorized, "this peer token is not valid for \(request.method) \(request.uri.path.prefix(200))")
        }
        guard context.principal?.mayRead == true else {
            throw FerryError(.denied, "the registry API needs the admin token or a node credential")
        }
    }

    func handle(_ request: Request, context: FerryRequestContext) async throws -> Response {
        var response = try await respond(request, context: context)
        // "A registry that uses the ns query parameter to scope the request SHOULD return the ns
        // query parameter value in the OCI-Namespace header" (distribution spec); only a value
        // that is a registry host, as a reference names one, is echoed.
        if let ns = try? Self.namespace(of: request), response.status.code < 400 {
            response.headers[.ociNamespace] = ns
        }
        return response
    }

    private func respond(_ request: Request, context: FerryRequestContext) async throws -> Response {
        let route = RegistryPath.parse(request.uri.path)
        if case .peer(_, let allowed) = context.principal?.role {
            // A peer token opens one blob and nothing else.
            guard case .blob(_, let digest) = route, digest == allowed.description else {
                throw FerryError(.unauthorized, "this peer token is not valid for \(request.uri.path.prefix(200))")
            }
        } else {
            try Self.requireReader(request, context: context)
        }
        guard let route else {
            throw FerryError(.notFound, "no such route in the registry API: \(request.uri.path.prefix(200))")
        }
        // The node whose reads are limited to its own images, if the caller is one.
        let scope = nodeReads == .ownImages ? context.principal?.nodeID : nil
        switch route {
        case .base:
            var headers = HTTPFields()
            headers[.contentType] = "application/json"
            headers[.dockerDistributionAPIVersion] = "registry/2.0"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: "{}")))
        case .manifest(let name, let reference):
            // Content by digest needs no upstream: only tags are resolved per upstream.
            if reference.contains(":") {
                try Self.validate(name)
                let digest = try Self.digest(reference)
                // Without `?ns=` (Docker, skopeo) the leader is asked by digest alone.
                let upstream = try? repository(name, request)
                if manifestFallback != nil, try await database.manifest(digest) == nil,
                    let asked = try await askFallback((upstream?.registry, upstream?.repository ?? name), reference: digest.description),
                    asked.digest == digest
                {
                    return try serve(asked, request)
                }
                return try await manifest(request, digest: digest, scope: scope)
            }
            // An invalid tag is 404 MANIFEST_UNKNOWN whether or not the name has an upstream.
            try Self.validate(name)
            try Self.refuseInvalidTag(reference)
            return try await manifest(request, repository: try repository(name, request), tag: reference, scope: scope)
        case .blob(let name, let digest):
            try Self.validate(name)
            let digest = try Self.digest(digest)
            return try await blob(request, digest: digest, scope: scope) {
                try await blobFallback?((try? repository(name, request))?.registry, name, digest)
            }
        case .tags(let name):
            let repository = try repository(name, request)
            if scope != nil { throw Self.unknownRepository(repository) }
            return try await tags(request, repository: repository, name: name)
        }
    }

    /// The (registry, repository) a request's name and `ns` refer to.
    static func validate(_ name: String) throws {
        guard ImageReference.isValidRepository(name) else {
            throw FerryError(.invalidReference, "invalid repository name '\(name.prefix(200))'")
        }
    }

    /// The upstream `?ns=` names: nil when absent or empty (the default upstream is meant, as
    /// without it); a value that is not a registry host is `NAME_UNKNOWN`, never a lookup key.
    static func namespace(of request: Request) throws(FerryError) -> String? {
        guard let ns = request.uri.queryParameters.get("ns").map({ String($0) }), !ns.isEmpty else { return nil }
        guard ImageReference.isValidRegistry(ns) else {
            throw FerryError(.nameUnknown, "?ns=\(TerminalText.escape(ns, limit: 100)) is not a registry host such as registry.example.com:5000")
        }
        return ns
    }

    func repository(_ name: String, _ request: Request) throws -> (registry: String, repository: String) {
        try Self.validate(name)
        guard var registry = try Self.namespace(of: request) ?? defaultRegistry else {
            throw FerryError(.nameUnknown, "repository '\(name)' names no upstream: add ?ns=<registry host>, or start this server with --default-registry")
        }
        if ["index.docker.io", "registry-1.docker.io"].contains(registry) { registry = ImageReference.dockerHub }
        var repository = name
        if registry == ImageReference.dockerHub && !name.contains("/") { repository = "library/" + name }
        return (registry, repository)
    }

    /// No manifest can have an invalid tag: 404 MANIFEST_UNKNOWN, as the OCI conformance suite
    /// expects (not 400).
    static func refuseInvalidTag(_ tag: String) throws {
        guard ImageReference.isValidTag(tag) else {
            throw FerryError(.manifestUnknown, "'\(tag.prefix(130))' is not a valid tag")
        }
    }

    static func digest(_ text: String) throws -> Digest {
        do {
            return try Digest(parsing: text)
        } catch {
            throw FerryError(.invalidDigest, error.message)
        }
    }

    /// Whether the node `scope` (nil: a caller without limits) may read `digest`.
    func visible(_ digest: Digest, to scope: Int64?) async throws -> Bool {
        guard let scope else { return true }
        return try await database.node(scope, mayRead: digest)
    }

    static func unknownRepository(_ repository: (registry: String, repository: String)) -> FerryError {
        FerryError(.nameUnknown, "the repository \(repository.registry)/\(repository.repository) is not known here")
    }

    func manifest(
        _ request: Request, repository: (registry: String, repository: String), tag: String, scope: Int64? = nil
    ) async throws -> Response {
        try Self.refuseInvalidTag(tag)
        let accepted = ManifestAccept(request.headers[values: .accept])
        guard let digest = try await database.digest(registry: repository.registry, repository: repository.repository, tag: tag),
            try await visible(digest, to: scope)
        else {
            if let asked = try await askFallback(repository, reference: tag) {
                return try serve(try await negotiated(asked, accepted: accepted, repository: repository, scope: scope, tag: tag), request, byTag: true)
            }
            throw FerryError(.manifestUnknown, "\(repository.registry)/\(repository.repository):\(tag) is not held here")
        }
        guard accepted != nil, let record = try await database.manifest(digest) else {
            return try await manifest(request, digest: digest, byTag: true)
        }
        return try serve(try await negotiated(record, accepted: accepted, repository: repository, scope: scope, tag: tag), request, byTag: true)
    }

    /// What a tag's manifest is for a client whose `Accept` lists the types it takes
    /// (``ManifestNegotiation``): a list's `linux/amd64` manifest is the one held here, or from
    /// the fallback.
    func negotiated(
        _ record: ManifestRecord, accepted: ManifestAccept?, repository: (registry: String, repository: String), scope: Int64?, tag: String
    ) async throws -> ManifestRecord {
        switch ManifestNegotiation.decide(mediaType: record.mediaType, bytes: record.bytes, accepted: accepted, tag: tag) {
        case .asIs:
            return record
        case .refused(let message):
            throw FerryError(.manifestUnknown, message)
        case .platformManifest(let candidates):
            for digest in candidates {
                if let held = try await database.manifest(digest), try await visible(digest, to: scope) { return held }
                if let asked = try await askFallback(repository, reference: digest.description), asked.digest == digest { return asked }
            }
            throw ManifestNegotiation.noPlatformManifest(tag: tag)
        }
    }

    /// The fallback's answer, if there is a fallback; its failures (the leader away) count as unknown.
    func askFallback(_ repository: (registry: String?, repository: String), reference: String) async throws -> ManifestRecord? {
        guard let manifestFallback else { return nil }
        return try? await manifestFallback(repository.registry, repository.repository, reference)
    }

    func manifest(_ request: Request, digest: Digest, scope: Int64? = nil, byTag: Bool = false) async throws -> Response {
        guard let manifest = try await database.manifest(digest), try await visible(digest, to: scope) else {
            throw FerryError(.manifestUnknown, "\(digest) is not held here")
        }
        return try serve(manifest, request, byTag: byTag)
    }

    /// A manifest's exact bytes with the registry headers (`304` for a matching `If-None-Match`).
    /// `byTag`: asked by tag (``BlobResponseHead/varyByTag(_:)``).
    func serve(_ manifest: ManifestRecord, _ request: Request, byTag: Bool = false) throws -> Response {
        var headers = HTTPFields()
        headers[.contentType] = manifest.mediaType
        headers[.contentLength] = String(manifest.bytes.count)
        headers[.dockerContentDigest] = manifest.digest.description
        headers[.eTag] = "\"\(manifest.digest)\""
        headers[.dockerDistributionAPIVersion] = "registry/2.0"
        if byTag { BlobResponseHead.varyByTag(&headers) }
        if let notModified = BlobResponseHead.notModified(manifest.digest, ifNoneMatch: request.headers[.ifNoneMatch], byTag: byTag) {
            return Response(status: .notModified, headers: notModified)
        }
        if request.method == .head {
            return Response(status: .ok, headers: headers, body: .init())
        }
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: manifest.bytes)))
    }

    /// `absent`: asked for a blob not held, not arriving and not expected (the ``blobFallback``).
    func blob(
        _ request: Request, digest: Digest, scope: Int64? = nil, absent: () async throws -> Int64? = { nil }
    ) async throws -> Response {
        guard try await visible(digest, to: scope) else {
            throw FerryError(.blobUnknown, "\(digest) is not held here")
        }
        let size: Int64
        var growing: IngestProgress?
        var expected = false
        switch store.availability(of: digest) {
        case .complete(let held):
            size = held
        case .growing(let progress):
            // Cut-through: serve what has arrived and follow the rest as it comes.
            size = progress.expectedSize
            growing = progress
        case .absent:
            // About to arrive (verified cut-through only): answer now, wait in the body.
            var announced = cutThrough == .verified ? store.expectedSize(of: digest) : nil
            if cutThrough == .verified, announced == nil { announced = try await absent() }
            guard let announced else { throw FerryError(.blobUnknown, "\(digest) is not held here") }
            size = announced
            expected = true
        }
        if let headers = BlobResponseHead.notModified(digest, ifNoneMatch: request.headers[.ifNoneMatch]) {
            return Response(status: .notModified, headers: headers)
        }
        guard let head = BlobResponseHead(digest: digest, size: size, rangeHeader: request.headers[.range]) else {
            var headers = HTTPFields()
            headers[.contentRange] = "bytes */\(size)"
            headers[.contentType] = "application/json"
            headers[.dockerDistributionAPIVersion] = "registry/2.0"
            let body = try FerryJSON.encoder().encode(
                ErrorResponse(errors: [ErrorEntry(code: FerryError.Code.rangeNotSatisfiable.rawValue, message: "range not satisfiable for a blob of \(size) bytes")]))
            return Response(status: .rangeNotSatisfiable, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
        }
        let (status, headers, range) = (head.status, head.headers, head.range)
        let length = range.upperBound - range.lowerBound
        if request.method == .head {
            return Response(status: status, headers: headers, body: .init())
        }
        let store = self.store
        let bytes = range
        let limiter = uploadLimiter
        let failpoint = servingFailpoint
        let following = growing
        let verified = cutThrough != .unverified
        let waitForArrival = expected
        let body = ResponseBody(contentLength: Int(length)) { writer in
            FerryMetrics.uploadStarted()
            defer { FerryMetrics.uploadEnded() }
            let send: (ByteBuffer) async throws -> Void = { chunk in
                // At a limited rate in slices (RateLimiter.slice): a whole chunk's wait behind
                // the other transfers' would leave this one silent long enough to look stalled.
                var chunk = chunk
                while chunk.readableBytes > 0 {
                    let slice = chunk.readSlice(length: min(chunk.readableBytes, limiter?.slice ?? chunk.readableBytes))!
                    if let limiter { try await limiter.acquire(slice.readableBytes) }
                    try await writer.write(slice)
                    FerryMetrics.countServed(slice.readableBytes)
                }
                failpoint?.reach()
            }
            var source: BlobStore.Availability = following.map { .growing($0) } ?? .complete(size: size)
            if waitForArrival { source = try await store.awaitArrival(of: digest) }
            switch source {
            case .growing(let progress):
                guard progress.expectedSize == size else {
                    throw FerryError(.sizeMismatch, "blob \(digest) arrives with \(progress.expectedSize) bytes, \(size) announced")
                }
                try await store.readGrowing(progress, range: bytes, holdingBackUntilVerified: verified, send)
            case .complete:
                try await store.read(digest, range: bytes, send)
            case .absent:
                throw FerryError(.blobUnknown, "blob \(digest) is no longer expected here")
            }
            try await writer.finish(nil)
        }
        return Response(status: status, headers: headers, body: body)
    }

    struct TagList: Codable {
        var name: String
        var tags: [String]
    }

    func tags(_ request: Request, repository: (registry: String, repository: String), name: String) async throws -> Response {
        guard let all = try await database.tags(registry: repository.registry, repository: repository.repository) else {
            throw Self.unknownRepository(repository)
        }
        let parameters = request.uri.queryParameters
        let page = try RegistryPage(
            all, n: parameters.get("n"), last: parameters.get("last"), path: "/v2/\(name)/tags/list",
            carried: try Self.namespace(of: request).map { [("ns", $0)] } ?? [])
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        headers[.dockerDistributionAPIVersion] = "registry/2.0"
        if let link = page.link { headers[.link] = link }
        let body = try FerryJSON.encoder().encode(TagList(name: name, tags: page.names))
        headers[.contentLength] = String(body.count)
        if request.method == .head { return Response(status: .ok, headers: headers, body: .init()) }
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }
}
