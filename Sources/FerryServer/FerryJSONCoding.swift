import FerryCore
import FerryMesh
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// A request body of Ferry's JSON APIs: its shape is named when a body does not decode.
public protocol APIRequestBody: Decodable {
    /// The expected JSON, for the error message.
    static var expectedShape: String { get }
}

/// Decodes the JSON request bodies of Ferry's APIs (``FerryRequestContext/requestDecoder``): a body
/// over ``FerryRequestContext/maxBodySize`` gets 413 (before it is read when its length says so),
/// one that does not decode gets 400 naming the expected shape.
public struct FerryRequestDecoder: RequestDecoder {
    public init() {}

    public func decode<T: Decodable>(_ type: T.Type, from request: Request, context: some RequestContext) async throws -> T {
        let limit = FerryRequestContext.maxBodySize
        let tooLarge = FerryError(.requestTooLarge, "the request body is larger than \(limit) bytes: send a smaller request (fewer images per call)")
        if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > limit { throw tooLarge }
        let body: ByteBuffer
        do {
            body = try await request.body.collect(upTo: limit)
        } catch is NIOTooManyBytesError {
            throw tooLarge
        }
        do {
            return try FerryJSON.decoder().decode(T.self, from: Data(body.readableBytesView))
        } catch {
            let shape = (T.self as? any APIRequestBody.Type)?.expectedShape ?? "a JSON object"
            throw FerryError(.invalidArgument, "the request body is not valid: expected \(shape)")
        }
    }
}

/// Encodes what Ferry's API handlers return (``FerryRequestContext/responseEncoder``) as
/// `application/json` with ``FerryJSON``'s settings.
public struct FerryResponseEncoder: ResponseEncoder {
    public init() {}

    public func encode(_ value: some Encodable, from request: Request, context: some RequestContext) throws -> Response {
        let data = try FerryJSON.encoder().encode(value)
        return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}

extension FetchRequest: APIRequestBody {
    public static var expectedShape: String { #"{"images": ["REF", …], "platform": "os/arch"}"# }
}
extension InstallRequest: APIRequestBody {
    public static var expectedShape: String { #"{"images": ["REF", …], "nodes": ["NAME", …], "maxParallel": N}"# }
}
extension GarbageCollectionRequest: APIRequestBody {
    public static var expectedShape: String { #"{"keep": N, "dryRun": false}"# }
}
extension JoinRequest: APIRequestBody {
    public static var expectedShape: String { #"{"name": "NODE", "platform": "os/arch"}"# }
}
extension JoinTokenRequest: APIRequestBody {
    public static var expectedShape: String { #"{"ttlSeconds": N, "uses": N, "description": "…"}"# }
}
extension Heartbeat: APIRequestBody {
    public static var expectedShape: String { #"{"dockerVersion": "…"}"# }
}
extension SourceRequest: APIRequestBody {
    public static var expectedShape: String { #"{"digest": "sha256:…", "size": N, "have": N, "repository": "…"}"# }
}
extension BlobEvents: APIRequestBody {
    public static var expectedShape: String { #"{"events": [{"digest": "sha256:…", "kind": "present", "size": N}]}"# }
}
extension TargetReport: APIRequestBody {
    public static var expectedShape: String { #"{"state": "transferring", "bytesDone": N}"# }
}

extension FetchResponse: ResponseEncodable {}
extension ImageList: ResponseEncodable {}
extension ImageStatus: ResponseEncodable {}
extension InstallStatus: ResponseEncodable {}
extension InstallList: ResponseEncodable {}
extension NodeList: ResponseEncodable {}
extension NodeRemovalReport: ResponseEncodable {}
extension CreatedJoinToken: ResponseEncodable {}
extension JoinTokenList: ResponseEncodable {}
extension JoinTokenInfo: ResponseEncodable {}
extension GarbageCollectionReport: ResponseEncodable {}
extension JoinResponse: ResponseEncodable {}
extension HeartbeatResponse: ResponseEncodable {}
extension SourceList: ResponseEncodable {}
extension SourceBatchAnswer: ResponseEncodable {}
extension WorkResponse: ResponseEncodable {}
extension LoadPermit: ResponseEncodable {}
extension CertificateRequest: APIRequestBody {
    public static var expectedShape: String { #"{"publicKey": "-----BEGIN PUBLIC KEY-----…"}"# }
}
extension CertificateResponse: ResponseEncodable {}
extension RolloutStatus: ResponseEncodable {}
extension RolloutList: ResponseEncodable {}
