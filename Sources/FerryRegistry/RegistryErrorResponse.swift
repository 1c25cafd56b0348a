import FerryCore
import Foundation

/// The registry error body: `{"errors":[{"code":"…","message":"…","detail":…}]}`.
struct RegistryErrorResponse: Decodable {
    struct Entry: Decodable {
        var code: String?
        var message: String?
    }

    var errors: [Entry]?

    /// `CODE: message` of the first entry, if the body is a registry error.
    static func summary(of body: [UInt8]) -> (code: String, text: String)? {
        guard !body.isEmpty, let decoded = try? JSONDecoder().decode(RegistryErrorResponse.self, from: Data(body)),
            let first = decoded.errors?.first, let code = first.code
        else { return nil }
        let message = (first.message ?? "").prefix(200)
        return (code, message.isEmpty ? code : "\(code): \(message)")
    }
}
