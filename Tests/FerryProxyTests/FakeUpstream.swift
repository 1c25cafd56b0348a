import FerryCore
import FerryFormats
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Synchronization

/// An in-process upstream registry for the proxy's tests: one repository (`team/app`), Basic auth
/// `vendor:upstream-secret`, a tag per manifest, blobs that can be made to arrive corrupted.
/// Counts blob GETs and every host path asked.
final class FakeUpstream: Sendable {
    static let password = "upstream-secret-7f3a"
    let manifests: Mutex<[String: [UInt8]]> = Mutex([:])
    /// The `Content-Type` of a manifest by tag or digest, when not a Docker image manifest.
    let manifestTypes: Mutex<[String: String]> = Mutex([:])
    let blobs: Mutex<[Digest: [UInt8]]> = Mutex([:])
    let corrupt = Mutex<Set<Digest>>([])
    /// Blobs whose `HEAD` says `Content-Length: 0`, as a front that drops HEAD bodies' lengths may.
    let emptyHeads = Mutex<Set<Digest>>([])
    let blobGets = Mutex<[Digest: Int]>([:])
    let paths = Mutex<[String]>([])
    /// `METHOD path` of every request.
    let requests = Mutex<[String]>([])
    /// While true every request is answered `503` (a registry that is down).
    let failing = Mutex(false)
    /// While set, every request is answered with this status (a registry refusing for good).
    let refusing = Mutex<HTTPResponse.Status?>(nil)

    /// Adds an image of one layer under `tag`; returns the manifest digest and the layer.
    @discardableResult
    func addImage(tag: String, layer: [UInt8]) -> (manifest: Digest, layer: Digest) {
        let config = Array(#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#.utf8)
        let configDigest = Digest.sha256(of: config)
        let layerDigest = Digest.sha256(of: layer)
        let manifest = Array(
            """
            {"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json",\
            "config":{"mediaType":"application/vnd.docker.container.image.v1+json","size":\(config.count),"digest":"\(configDigest)"},\
            "layers":[{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","size":\(layer.count),"digest":"\(layerDigest)"}]}
            """.utf8)
        let manifestDigest = Digest.sha256(of: manifest)
        blobs.withLock {
            $0[configDigest] = config
            $0[layerDigest] = layer
        }
        manifests.withLock {
            $0[tag] = manifest
            $0[manifestDigest.description] = manifest
        }
        return (manifestDigest, layerDigest)
    }

    /// Adds a Docker manifest list under `tag` naming `entries` (digest, architecture; linux,
    /// Docker image manifests); returns its digest.
    @discardableResult
    func addList(tag: String, entries: [(Digest, String)]) -> Digest {
        let manifests = entries.map { digest, architecture in
            #"{"mediaType":"application/vnd.docker.distribution.manifest.v2+json","size":10,"digest":"\#(digest)","platform":{"os":"linux","architecture":"\#(architecture)"}}"#
        }
        let list = Array(
            #"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.list.v2+json","manifests":[\#(manifests.joined(separator: ","))]}"#.utf8)
        let digest = Digest.sha256(of: list)
        self.manifests.withLock {
            $0[tag] = list
            $0[digest.description] = list
        }
        manifestTypes.withLock {
            $0[tag] = MediaType.dockerManifestList
            $0[digest.description] = MediaType.dockerManifestList
        }
        return digest
    }

    var router: Router<BasicRequestContext> {
        let router = Router()
        router.on("/**", method: .get) { request, _ in try await self.handle(request) }
        router.on("/**", method: .head) { request, _ in try await self.handle(request) }
        return router
    }

    func handle(_ request: Request) async throws -> Response {
        let path = request.uri.path
        paths.withLock { $0.append(path) }
        requests.withLock { $0.append("\(request.method) \(path)") }
        if failing.withLock({ $0 }) { return Response(status: .serviceUnavailable) }
        if let status = refusing.withLock({ $0 }) { return Response(status: status) }
        let expected = "Basic " + Data("vendor:\(Self.password)".utf8).base64EncodedString()
        guard request.headers[.authorization] == expected else {
            var headers = HTTPFields()
            headers[.wwwAuthenticate] = #"Basic realm="fake""#
            return Response(status: .unauthorized, headers: headers)
        }
        if path == "/v2/" { return Response(status: .ok) }
        let prefix = "/v2/team/app/"
        guard path.hasPrefix(prefix) else { return Response(status: .notFound) }
        let rest = path.dropFirst(prefix.count)
        var headers = HTTPFields()
        if rest.hasPrefix("manifests/") {
            let reference = String(rest.dropFirst("manifests/".count))
            guard let bytes = manifests.withLock({ $0[reference] }) else { return Response(status: .notFound) }
            headers[.contentType] = manifestTypes.withLock { $0[reference] } ?? "application/vnd.docker.distribution.manifest.v2+json"
            headers[HTTPField.Name("Docker-Content-Digest")!] = Digest.sha256(of: bytes).description
            headers[.contentLength] = String(bytes.count)
            if request.method == .head { return Response(status: .ok, headers: headers) }
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
        }
        if rest.hasPrefix("blobs/"), let digest = Digest(String(rest.dropFirst("blobs/".count))), var bytes = blobs.withLock({ $0[digest] }) {
            headers[.contentLength] = emptyHeads.withLock({ $0.contains(digest) }) && request.method == .head ? "0" : String(bytes.count)
            if request.method == .head { return Response(status: .ok, headers: headers) }
            blobGets.withLock { $0[digest, default: 0] += 1 }
            if corrupt.withLock({ $0.contains(digest) }) { bytes[bytes.count / 2] ^= 0xff }
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
        }
        return Response(status: .notFound)
    }
}
