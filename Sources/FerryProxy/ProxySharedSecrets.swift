import Crypto
import FerryCore
import Foundation

/// What every replica of a PostgreSQL-backed proxy must hold alike: the key that signs tokens (a
/// token issued by one replica is accepted by the others) and the admin token. The first replica
/// stores its own (from its data directory) in the database; the others take those.
public struct ProxySharedSecrets: Sendable {
    public var tokenKey: SymmetricKey
    public var adminToken: String

    public init(tokenKey: SymmetricKey, adminToken: String) {
        self.tokenKey = tokenKey
        self.adminToken = adminToken
    }

    /// The token key as the database stores it: 64 hex digits.
    public var tokenKeyHex: String {
        tokenKey.withUnsafeBytes { Data($0) }.map { String(format: "%02x", $0) }.joined()
    }

    /// Secrets read back from the database; nil unless the key is 32 bytes of hex.
    public init?(tokenKeyHex: String, adminToken: String) {
        let digits = Array(tokenKeyHex.utf8)
        guard digits.count == 64, !adminToken.isEmpty else { return nil }
        var bytes: [UInt8] = []
        for index in stride(from: 0, to: digits.count, by: 2) {
            guard let byte = UInt8(String(decoding: digits[index..<index + 2], as: UTF8.self), radix: 16) else { return nil }
            bytes.append(byte)
        }
        self.init(tokenKey: SymmetricKey(data: bytes), adminToken: adminToken)
    }
}
