/// An `Authorization: Bearer` value (RFC 6750): the scheme in any case (RFC 9110 §11.1), one or
/// more spaces, the token.
public enum BearerAuthorization {
    /// The token of a `Bearer` header value; nil for any other scheme or an empty token.
    public static func token(_ header: some StringProtocol) -> Substring? {
        let scheme = "bearer "
        guard header.utf8.count > scheme.utf8.count, header.prefix(scheme.count).lowercased() == scheme else { return nil }
        let token = Substring(header.dropFirst(scheme.count)).drop { $0 == " " }
        return token.isEmpty ? nil : token
    }
}
