import Crypto
import FerryCore
import Foundation

/// A short-lived permission, signed by the leader (Ed25519), for one node to fetch one blob from
/// one peer: `fpt1.<claims>.<signature>`, both parts base64url. The serving peer checks the
/// signature with the leader's public key (handed out at join), the expiry, that the digest is the
/// one asked for, that it is the audience, and (over TLS) that the client certificate is the node's.
public enum PeerToken {
    public struct Claims: Codable, Sendable, Hashable {
        /// The node the token was issued to: only that node may use it.
        public var node: String
        public var digest: FerryCore.Digest
        /// Expiry, seconds since 1970.
        public var exp: Int64
        /// The peer the token is for: only that peer accepts it.
        public var aud: String?

        public init(node: String, digest: FerryCore.Digest, exp: Int64, audience: String? = nil) {
            self.node = node
            self.digest = digest
            self.exp = exp
            self.aud = audience
        }
    }

    static let prefix = "fpt1."

    /// How long a token is valid: 2 minutes. It is checked when a transfer starts; a receiver
    /// that resumes asks the tracker again and gets a fresh one.
    public static let lifetime: Int64 = 120

    public static func sign(_ claims: Claims, with key: Curve25519.Signing.PrivateKey) throws -> String {
        let payload = try JSONEncoder().encode(claims)
        let signed = prefix + base64URL(payload)
        let signature = try key.signature(for: Data(signed.utf8))
        return signed + "." + base64URL(signature)
    }

    /// The claims of a valid token for `digest` addressed to `audience` (when given); nil for
    /// anything forged, expired, malformed, issued for another blob or for another peer.
    public static func verify(
        _ token: String, publicKey: Curve25519.Signing.PublicKey, digest: FerryCore.Digest?, audience: String? = nil, now: Int64
    ) -> Claims? {
        guard token.hasPrefix(prefix), let dot = token.lastIndex(of: ".") else { return nil }
        let signed = token[..<dot]
        let parts = signed.dropFirst(prefix.count)
        guard let signature = Data(base64URL: String(token[token.index(after: dot)...])),
            publicKey.isValidSignature(signature, for: Data(signed.utf8)),
            let payload = Data(base64URL: String(parts)),
            let claims = try? JSONDecoder().decode(Claims.self, from: payload),
            claims.exp > now
        else { return nil }
        if let digest, claims.digest != digest { return nil }
        if let audience, claims.aud != audience { return nil }
        return claims
    }

    static func base64URL(_ data: some DataProtocol) -> String {
        Data(data).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }
}

extension Data {
    /// Decodes base64url without padding.
    init?(base64URL text: String) {
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        guard base64.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "+" || $0 == "/" }) else { return nil }
        while base64.count % 4 != 0 { base64 += "=" }
        self.init(base64Encoded: base64)
    }
}
