import Foundation

/// An `Authorization: Basic` value (RFC 7617): `base64(user ":" password)`. The proxy takes any
/// user name and the licence ID as the password.
public struct BasicAuthorization: Sendable, Hashable {
    public var user: String
    public var password: String

    /// Longest header value parsed; longer ones are refused unread.
    public static let maxLength = 4096

    public init(user: String, password: String) {
        self.user = user
        self.password = password
    }

    /// Parses a header value (`Basic` in any case, then base64 of UTF-8 `user:password`, the user
    /// without a colon); nil for anything else.
    public init?(header: some StringProtocol) {
        guard header.utf8.count < Self.maxLength, header.lowercased().hasPrefix("basic ") else { return nil }
        guard let data = Data(base64Encoded: String(header.dropFirst(6)).trimmingCharacters(in: .whitespaces)),
            let text = String(data: data, encoding: .utf8), let colon = text.firstIndex(of: ":")
        else { return nil }
        self.init(user: String(text[..<colon]), password: String(text[text.index(after: colon)...]))
    }

    /// The header value: `Basic ` and the base64 of `user:password`.
    public var header: String { "Basic " + Data("\(user):\(password)".utf8).base64EncodedString() }
}
