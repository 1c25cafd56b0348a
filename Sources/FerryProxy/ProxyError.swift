import FerryCore
import FerryFormats
import FerryMesh
import FerryServer
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// An error the proxy answers: registry-style JSON, with the header each case needs: a Bearer
/// challenge on `401`, `Retry-After` on `429`, `Allow` on `405`, `Content-Range` on `416`.
struct ProxyError: Error, HTTPResponseError {
    var error: FerryError
    /// For a 401: the realm and service to challenge with, and the scope if a repository was asked for.
    var challenge: String?
    var retryAfter: Int?
    /// For a 416: the blob's size (`Content-Range: bytes */SIZE`).
    var size: Int64?
    /// Credentials that were presented and refused (``ProxyAuthFailures``); nil for every other
    /// error, a request without credentials included (the first step of every client's login).
    var refused: Refusal?

    /// Why presented credentials were refused, and the licence when it is known (revoked, expired).
    struct Refusal: Sendable {
        var reason: String
        var licence: Int64?
        /// The licence's app, when the licence is known.
        var app: String?
    }

    init(_ error: FerryError, challenge: String? = nil, retryAfter: Int? = nil, size: Int64? = nil, refused: Refusal? = nil) {
        self.error = error
        self.challenge = challenge
        self.retryAfter = retryAfter
        self.size = size
        self.refused = refused
    }

    /// The status the leader's APIs give the same error (``FerryError/status``).
    var status: HTTPResponse.Status { error.status }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        headers[ProxyHeader.apiVersion] = "registry/2.0"
        if error.code == .unauthorized { headers[.wwwAuthenticate] = challenge ?? #"Basic realm="ferry-proxy""# }
        if let retryAfter { headers[.retryAfter] = String(retryAfter) }
        if error.code == .unsupported { headers[.allow] = "GET, HEAD" }
        if let size, error.code == .rangeNotSatisfiable { headers[.contentRange] = "bytes */\(size)" }
        let body = (try? ProxyJSON.encoder.encode(ErrorResponse(errors: [ErrorEntry(code: error.code.rawValue, message: error.message)]))) ?? Data()
        if request.method == .head {
            // The length a GET would have (RFC 9110 §8.6), without the body.
            headers[.contentLength] = String(body.count)
            return Response(status: status, headers: headers, body: .init())
        }
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }
}

/// Any error thrown by a route becomes a ``ProxyError`` response; nothing else reaches the client.
/// A path no route serves is `404` only to a caller `credentials` accepts (a licence or the admin
/// token); anyone else gets its refusal (`401` with a challenge), as the leader answers, so an
/// anonymous client learns nothing about which routes exist.
struct ProxyErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    /// Throws the refusal for a request without valid credentials.
    let credentials: @Sendable (Request) async throws -> Void
    /// Told of every request whose credentials were refused (``ProxyError/refused``).
    let refused: @Sendable (ProxyError.Refusal, Context) -> Void

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as ProxyError {
            if let refusal = error.refused { refused(refusal, context) }
            throw error
        } catch let error as FerryError {
            throw ProxyError(error)
        } catch let error as HTTPError where error.status == .notFound {
            do {
                try await credentials(request)
            } catch let error as ProxyError {
                if let refusal = error.refused { refused(refusal, context) }
                throw error
            }
            throw ProxyError(FerryError(.notFound, "no such route: \(request.method) \(request.uri.path.prefix(200))"))
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            // A database that cannot write (a full disk) says so; anything else stays opaque to
            // the client. Both are logged.
            throw ProxyError(ErrorMiddleware.logged(error, of: request, logger: context.logger) ?? FerryError(.internal, "the proxy failed on this request"))
        }
    }
}

enum ProxyHeader {
    static let apiVersion = HTTPField.Name("Docker-Distribution-Api-Version")!
    static let contentDigest = HTTPField.Name("Docker-Content-Digest")!
    static let link = HTTPField.Name("Link")!
}

/// The JSON the proxy answers: names keep their `/` unescaped (`proxy/app/registry/repository`).
enum ProxyJSON {
    static var encoder: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes, .sortedKeys]
        return encoder
    }
}
