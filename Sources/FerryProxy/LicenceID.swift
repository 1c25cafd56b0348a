import Crypto
import FerryCore
import FerryFormats
import Foundation

/// A licence ID: 256 random bits, `ferrylic_` + 64 hex digits. Shown once at creation; the
/// proxy keeps only its SHA-256 (``hash``), so its database never holds a usable licence.
public struct LicenceID: Sendable, Hashable, CustomStringConvertible {
    public static let prefix = "ferrylic_"
    /// The secret. Never log it.
    public let secret: String

    /// A new random licence ID (from the system's CSPRNG).
    public static func generate() -> LicenceID {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }
        return LicenceID(unchecked: prefix + bytes.map { String(format: "%02x", $0) }.joined())
    }

    private init(unchecked secret: String) { self.secret = secret }

    /// Parses what a client sent as its password; nil if it does not have the shape of a licence ID.
    public init?(_ text: some StringProtocol) {
        guard text.hasPrefix(Self.prefix), text.utf8.count == Self.prefix.utf8.count + 64 else { return nil }
        let hex = text.dropFirst(Self.prefix.count)
        guard hex.utf8.allSatisfy({ (48...57).contains($0) || (97...102).contains($0) }) else { return nil }
        self.secret = String(text)
    }

    /// The hex SHA-256 of the secret: what the database stores and looks up.
    public var hash: String { Digest.sha256(of: Array(secret.utf8)).encoded }

    /// Never the secret.
    public var description: String { "LicenceID(<redacted>)" }
}
