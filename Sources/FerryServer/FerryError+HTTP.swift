import FerryCore
import FerryMesh
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

extension FerryError: HTTPResponseError {
    /// The HTTP status for each error code, as the distribution spec pairs them.
    public var status: HTTPResponse.Status {
        switch code {
        case .invalidReference, .invalidDigest, .manifestInvalid, .invalidArgument, .unsupportedManifest, .paginationNumberInvalid: .badRequest
        case .unsupported: .methodNotAllowed
        case .unauthorized: .unauthorized
        case .denied: .forbidden
        case .manifestUnknown, .blobUnknown, .nameUnknown, .notFound, .noMatchingPlatform: .notFound
        case .rangeNotSatisfiable: .rangeNotSatisfiable
        case .tooManyRequests: .tooManyRequests
        case .insufficientSpace: .init(code: 507, reasonPhrase: "Insufficient Storage")
        case .upstreamUnreachable, .upstreamError, .digestMismatch, .sizeMismatch: .badGateway
        case .busy: .serviceUnavailable
        case .conflict: .conflict
        case .nodeUnknown, .protocolVersion: .badRequest
        case .manifestTooLarge, .requestTooLarge: .contentTooLarge
        case .headersTooLarge: .requestHeaderFieldsTooLarge
        default: .internalServerError
        }
    }

    /// Whether the error is the request's own (a 4xx), as opposed to the server's (a 5xx).
    public var isRequestError: Bool { (400..<500).contains(status.code) }

    /// A registry-style JSON error body: `{"errors":[{"code","message"}]}`.
    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        headers[.dockerDistributionAPIVersion] = "registry/2.0"
        if code == .unauthorized {
            headers[.wwwAuthenticate] = #"Basic realm="ferry""#
        }
        let body = (try? FerryJSON.encoder().encode(ErrorResponse(errors: [ErrorEntry(self)]))) ?? Data()
        if request.method == .head {
            // The length a GET would have (RFC 9110 §8.6), without the body.
            headers[.contentLength] = String(body.count)
            return Response(status: status, headers: headers, body: .init())
        }
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }
}

extension FerryError.Code {
    /// A request body over ``FerryRequestContext/maxBodySize``: 413.
    public static let requestTooLarge = FerryError.Code("REQUEST_TOO_LARGE")
    /// A request head over ``HTTPLimits``: 431.
    public static let headersTooLarge = FerryError.Code("HEADERS_TOO_LARGE")
}

extension HTTPField.Name {
    static let dockerContentDigest = HTTPField.Name("Docker-Content-Digest")!
    static let link = HTTPField.Name("Link")!
    static let dockerDistributionAPIVersion = HTTPField.Name("Docker-Distribution-Api-Version")!
    /// The `ns` a request was scoped by, echoed (OCI distribution spec, *Registry proxying*).
    static let ociNamespace = HTTPField.Name("OCI-Namespace")!
}
