import FerryCore
import FerryFormats
import FerryMesh
import FerryPolicy
import FerryRegistry
import FerryServer
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import Metrics
import NIOCore

extension ProxyAPI {
    func manifest(
        _ request: Request, context: FerryRequestContext, caller: ProxyCaller, app: ProxyApp, repository: ProxyRepository, upstream image: ImageReference,
        reference: ProxyPath.ManifestReference
    ) async throws -> Response {
        var manifest: ProxyUpstream.Manifest
        do {
            switch reference {
            case .digest(let pinned): manifest = try await upstream.manifest(image, digest: pinned)
            case .tag(let tag) where request.method == .get: manifest = try await upstream.manifest(image, tag: tag)
            case .tag(let tag): manifest = try await upstream.manifest(image, digest: try await upstream.resolve(image, tag: tag))
            }
            if case .tag(let tag) = reference { manifest = try await negotiated(manifest, request: request, image: image, tag: tag) }
        } catch {
            let failure = customerError(error, what: "manifest \(repository)\(reference.suffix)")
            if request.method == .get { await audit(request, context, caller, repository, kind: "manifest", digest: reference.description, bytes: 0, status: failure.status.code) }
            throw failure
        }
        var headers = HTTPFields()
        headers[.contentType] = manifest.mediaType
        headers[.contentLength] = String(manifest.bytes.count)
        headers[ProxyHeader.contentDigest] = manifest.digest.description
        headers[.eTag] = "\"\(manifest.digest)\""
        headers[ProxyHeader.apiVersion] = "registry/2.0"
        // A tag's answer depends on `Accept` (``negotiated``).
        let byTag = if case .tag = reference { true } else { false }
        if byTag { BlobResponseHead.varyByTag(&headers) }
        if let notModified = BlobResponseHead.notModified(manifest.digest, ifNoneMatch: request.headers[.ifNoneMatch], byTag: byTag) {
            return Response(status: .notModified, headers: notModified)
        }
        if request.method == .head { return Response(status: .ok, headers: headers, body: .init()) }
        await audit(request, context, caller, repository, kind: "manifest", digest: manifest.digest.description, bytes: Int64(manifest.bytes.count), status: 200)
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: manifest.bytes)))
    }

    /// A tag's manifest as the client's `Accept` takes it (``ManifestNegotiation``, as the
    /// leader and the CNCF registry answer): a list's `linux/amd64` manifest from the upstream.
    func negotiated(_ manifest: ProxyUpstream.Manifest, request: Request, image: ImageReference, tag: String) async throws -> ProxyUpstream.Manifest {
        let accepted = ManifestAccept(request.headers[values: .accept])
        switch ManifestNegotiation.decide(mediaType: manifest.mediaType, bytes: manifest.bytes, accepted: accepted, tag: tag) {
        case .asIs:
            return manifest
        case .refused(let message):
            throw ProxyError(FerryError(.manifestUnknown, message))
        case .platformManifest(let candidates):
            // The first the upstream has, as the leader takes the first it holds.
            for digest in candidates {
                if let found = try? await upstream.manifest(image, digest: digest), found.digest == digest { return found }
            }
            throw ProxyError(ManifestNegotiation.noPlatformManifest(tag: tag))
        }
    }

    func blob(
        _ request: Request, context: FerryRequestContext, caller: ProxyCaller, app: ProxyApp, repository: ProxyRepository, upstream image: ImageReference,
        digest: Digest
    ) async throws -> Response {
        let size: Int64
        do {
            size = try await upstream.blobSize(image, digest: digest)
        } catch {
            let failure = customerError(error, what: "blob \(digest) of \(repository)")
            if request.method == .get { await audit(request, context, caller, repository, kind: "blob", digest: digest.description, bytes: 0, status: failure.status.code) }
            throw failure
        }
        if let notModified = BlobResponseHead.notModified(digest, ifNoneMatch: request.headers[.ifNoneMatch]) {
            return Response(status: .notModified, headers: notModified)
        }
        guard let head = BlobResponseHead(digest: digest, size: size, rangeHeader: request.headers[.range]) else {
            if request.method == .get { await audit(request, context, caller, repository, kind: "blob", digest: digest.description, bytes: 0, status: 416) }
            throw ProxyError(FerryError(.rangeNotSatisfiable, "range not satisfiable for a blob of \(size) bytes"), size: size)
        }
        let (status, headers, range) = (head.status, head.headers, head.range)
        if request.method == .head { return Response(status: status, headers: headers, body: .init()) }
        let asked = ContinuousClock.now
        let acquired = await streams.acquire(caller.licence.id, waitingAtMost: configuration.maxStreamWait)
        guard case .slot(let slot) = acquired else {
            let cap = configuration.maxStreamsPerLicence
            let downloads = "\(cap) download\(cap == 1 ? "" : "s")"
            let refusal: String
            switch acquired {
            case .closed: throw ProxyError(FerryError(.busy, "the proxy is stopping; retry later"), retryAfter: 1)
            case .queueFull: refusal = "this licence already has \(downloads) running and \(streams.maxWaiters) more waiting; retry later"
            default: refusal = "none of this licence's \(downloads) ended within \(configuration.maxStreamWait); retry later"
            }
            await audit(request, context, caller, repository, kind: "blob", digest: digest.description, bytes: 0, status: 429)
            throw ProxyError(FerryError(.tooManyRequests, refusal), retryAfter: 1)
        }
        // The customer left while waiting: the slot goes to the next one at once.
        guard context.channel?.isActive ?? true else {
            slot.release()
            await audit(request, context, caller, repository, kind: "blob", digest: digest.description, bytes: 0, status: Self.customerClosed)
            throw CancellationError()
        }
        let limiter = caller.licence.maxRate.map { rate in limiters.limiter(caller.licence.id, rate: rate) }
        let upstream = self.upstream
        let watch = LicenceWatch(
            licence: caller.licence, database: database, interval: Self.licenceRecheckInterval, tolerance: configuration.tokenLifetime,
            stopping: stopping, logger: logger)
        // After a wait for the slot, the licence as it is now, not as authentication read it.
        do {
            if ContinuousClock.now - asked >= Self.slotWaitRecheck { try await watch.recheck() } else { try watch.check() }
        } catch {
            slot.release()
            await audit(request, context, caller, repository, kind: "blob", digest: digest.description, bytes: 0, status: Int(error.status.code))
            throw error
        }
        let channel = context.channel
        let appName = app.name
        let (bytesRange, statusCode) = (range, Int(status.code))
        // Read now: once the customer has gone, the channel no longer knows its address.
        let client = Self.client(context)
        let body = ResponseBody(contentLength: Int(range.count)) { writer in
            defer { slot.release() }
            var sent: Int64 = 0
            var customerLeft = false
            do {
                try await withThrowingTaskGroup(of: Void.self) { patrols in
                // A revoke seen by the patrol while a write waits on a slow customer: the
                // connection is closed, so that the write ends (checks between writes would wait).
                patrols.addTask {
                    await watch.patrol()
                    if watch.refusal != nil { channel?.close(promise: nil) }
                }
                defer { patrols.cancelAll() }
                try await upstream.streamBlob(image, digest: digest, size: size, range: bytesRange, app: appName) { chunk in
                    // A licence revoked (or expired) while its download runs cuts it: checked
                    // before each write, and at a limited rate in slices, so that waiting for the
                    // rate does not delay the cut by more than a slice.
                    var chunk = chunk
                    while chunk.readableBytes > 0 {
                        let slice = chunk.readSlice(length: min(chunk.readableBytes, limiter?.slice ?? chunk.readableBytes))!
                        try watch.check()
                        if let limiter {
                            try await limiter.acquire(slice.readableBytes)
                            try watch.check()  // again after the rate's wait
                        }
                        do {
                            try await writer.write(slice)
                        } catch {
                            customerLeft = true
                            throw error
                        }
                        sent += Int64(slice.readableBytes)
                    }
                }
                do {
                    try await writer.finish(nil)
                } catch {
                    customerLeft = true
                    throw error
                }
                }
            } catch {
                let bytes = sent
                // Cut by the patrol: the write failed because it closed the connection.
                let refusal = watch.refusal
                let error: any Error = refusal ?? error
                if refusal != nil { customerLeft = false }
                // A customer closing its connection is ordinary; anything else is worth a warning.
                logger.log(
                    level: customerLeft ? .info : .warning, customerLeft ? "blob stream closed by the customer" : "blob stream cut",
                    metadata: [
                        "digest": "\(digest)", "repository": "\(repository)", "sent": "\(bytes)",
                        "error": "\((error as? ProxyError)?.error.message ?? (error as? FerryError)?.message ?? "\(error)")",
                    ])
                Counter(label: "ferry_proxy_bytes_total", dimensions: [("app", appName)]).increment(by: Int(bytes))
                // 499 when the customer closed the connection (nginx's "client closed request"),
                // 403 for a licence refused mid-stream (503 not checked for too long), else the
                // upstream's failure.
                let status = customerLeft ? Self.customerClosed : (error as? ProxyError).map { Int($0.status.code) } ?? 502
                await audit(request, client: client, caller, repository, kind: "blob", digest: digest.description, bytes: bytes, status: status)
                throw error
            }
            let bytes = sent
            Counter(label: "ferry_proxy_bytes_total", dimensions: [("app", appName)]).increment(by: Int(bytes))
            await audit(request, client: client, caller, repository, kind: "blob", digest: digest.description, bytes: bytes, status: statusCode)
        }
        return Response(status: status, headers: headers, body: body)
    }

    func tags(_ request: Request, repository: ProxyRepository, upstream image: ImageReference) async throws -> Response {
        struct TagList: Encodable {
            var name: String
            var tags: [String]
        }
        let tags: [String]
        do {
            tags = try await upstream.listTags(image)
        } catch {
            let failure = customerError(error, what: "the tags of \(repository)")
            // Tags are asked of a repository: the one the upstream does not know is NAME_UNKNOWN.
            guard [FerryError.Code.manifestUnknown, .nameUnknown].contains(failure.error.code) else { throw failure }
            throw ProxyError(FerryError(.nameUnknown, "repository \(repository) is not known upstream"))
        }
        let (page, headers) = try Self.page(tags.sorted(), of: request, path: "/v2/\(repository)/tags/list")
        let body = String(decoding: try ProxyJSON.encoder.encode(TagList(name: repository.description, tags: page)), as: UTF8.self)
        var response = Self.json(request, body)
        response.headers.append(contentsOf: headers)
        return response
    }

    /// One page of the sorted `names` (``RegistryPage``) and its `Link` header, if any.
    static func page(_ names: [String], of request: Request, path: String) throws -> ([String], HTTPFields) {
        let page: RegistryPage
        do {
            let parameters = request.uri.queryParameters
            page = try RegistryPage(names, n: parameters.get("n"), last: parameters.get("last"), path: path)
        } catch {
            throw ProxyError(error)
        }
        var headers = HTTPFields()
        if let link = page.link { headers[ProxyHeader.link] = link }
        return (page.names, headers)
    }

    /// What the customer learns of an upstream failure: the code and the proxy's own name of the
    /// content, never the upstream host, its URL or what it answered (logged here instead).
    func customerError(_ error: any Error, what: String) -> ProxyError {
        if let error = error as? ProxyError { return error }
        // Content the upstream does not have is the customer's question answered (a mistyped
        // tag, a conformance run), not a failure of the proxy's: not a warning.
        // (NAME_UNKNOWN stays a warning: some registries answer it for wrong credentials.)
        let unknown: Set<FerryError.Code> = [.manifestUnknown, .blobUnknown]
        if let code = (error as? FerryError)?.code, unknown.contains(code) {
            logger.info("not known upstream", metadata: ["what": "\(what)", "error": "\(error)"])
        } else {
            logger.warning("upstream request failed", metadata: ["what": "\(what)", "error": "\(error)"])
        }
        guard let error = error as? FerryError else {
            return ProxyError(FerryError(.upstreamError, "the proxy could not fetch \(what) from upstream; try again later"))
        }
        switch error.code {
        case .manifestUnknown: return ProxyError(FerryError(.manifestUnknown, "\(what) is not known upstream"))
        case .nameUnknown: return ProxyError(FerryError(.nameUnknown, "\(what) is not known upstream"))
        case .blobUnknown: return ProxyError(FerryError(.blobUnknown, "\(what) is not known upstream"))
        case .denied: return ProxyError(FerryError(.denied, "the upstream registry refused \(what); asking again will not help"))
        case .tooManyRequests: return ProxyError(FerryError(.tooManyRequests, "the upstream registry is rate limiting; retry later"), retryAfter: 10)
        case .digestMismatch, .sizeMismatch: return ProxyError(FerryError(.upstreamError, "the upstream registry sent wrong bytes for \(what); nothing was cached"))
        case .unsupportedManifest: return ProxyError(FerryError(.unsupportedManifest, "\(what) uses a manifest format the proxy does not serve"))
        default: return ProxyError(FerryError(.upstreamError, "the proxy could not fetch \(what) from upstream; try again later"))
        }
    }

    /// How often a running blob download re-reads its licence (``LicenceWatch``): a revoke cuts
    /// downloads under way within about this long (an expiry at once).
    static let licenceRecheckInterval: Duration = .seconds(1)
    /// A wait for a stream slot at least this long re-reads the licence before streaming (a slot
    /// free at once does not: authentication has just read it).
    static let slotWaitRecheck: Duration = .milliseconds(50)

    /// The status audited for a download the customer closed before its end.
    static let customerClosed = 499

    static func client(_ context: FerryRequestContext) -> String {
        context.channel?.remoteAddress?.ipAddress ?? ""
    }

    /// One audited pull and its per-app metric (never per licence).
    func audit(_ request: Request, _ context: FerryRequestContext, _ caller: ProxyCaller, _ repository: ProxyRepository, kind: String, digest: String, bytes: Int64, status: Int) async {
        await audit(request, client: Self.client(context), caller, repository, kind: kind, digest: digest, bytes: bytes, status: status)
    }

    func audit(_ request: Request, client: String, _ caller: ProxyCaller, _ repository: ProxyRepository, kind: String, digest: String, bytes: Int64, status: Int) async {
        await audit(request, client: client, licence: caller.licence.id, app: caller.licence.app, repository, kind: kind, digest: digest, bytes: bytes, status: status)
    }

    /// A row in `pulls` for a manifest or blob `GET` of `licence` (of `app`, the metric's label:
    /// a refused request may name any app): sent, failed or refused.
    func audit(
        _ request: Request, client: String, licence: Int64, app: String, _ repository: ProxyRepository, kind: String, digest: String,
        bytes: Int64, status: Int
    ) async {
        Counter(label: "ferry_proxy_pulls_total", dimensions: [("app", app), ("kind", kind), ("status", String(status))]).increment()
        let record = PullRecord(
            at: Date(), licence: licence, app: repository.app, repository: repository.description, kind: kind, digest: digest, bytes: bytes,
            status: status, client: client)
        do {
            try await database.recordPull(record)
        } catch {
            logger.error("cannot record a pull in the audit", metadata: ["error": "\(error)"])
        }
    }
}
