import Crypto
import FerryCore
import Foundation

/// A short-lived permission, signed by the leader (Ed25519), for one node to fetch one blob from
/// a peer: `fpt1.<claims>.<signature>`, both parts base64url. Peers check the signature with the
/// leader's public key (handed out at join), the expiry, and that the digest is the one asked for.
public enum PeerToken {
    public struct Claims: Codable, Sendable, Hashable {
        /// The node the token was issued to.
        public var node: String
        public var digest: FerryCore.Digest
        /// Expiry, seconds since 1970.
        public var exp: Int64

        public init(node: String, digest: FerryCore.Digest, exp: Int64) {
            self.node = node
            self.digest = digest
            self.exp = exp
        }
    }

    static let prefix = "fpt1."

    /// How long a token is valid. Default 10 minutes: enough for a transfer to start and resume.
    public static let lifetime: Int64 = 600

    public static func sign(_ claims: Claims, with key: Curve25519.Signing.PrivateKey) throws -> String {
        let payload = try JSONEncoder().encode(claims)
        let signed = prefix + base64URL(payload)
        let signature = try key.signature(for: Data(signed.utf8))
        return signed + "." + base64URL(signature)
    }

    /// The claims of a valid token for `digest`; nil for anything forged, expired, malformed or
    /// issued for another blob.
    public static func verify(_ token: String, publicKey: Curve25519.Signing.PublicKey, digest: FerryCore.Digest?, now: Int64) -> Claims? {
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
