import Foundation
import Crypto

/// A validated content digest (`algorithm:encoded`), safe to use in a file name or URL.
///
/// Only `sha256` (64 lowercase hex digits) and `sha512` (128) are accepted, as the OCI image
/// spec registers them; anything else is rejected before it reaches the file system.
public struct Digest: Hashable, Sendable, Comparable, CustomStringConvertible, LosslessStringConvertible, StringCodable {
    public enum Algorithm: String, Sendable, Hashable, CaseIterable {
        case sha256
        case sha512

        var encodedLength: Int { self == .sha256 ? 64 : 128 }
    }

    public let algorithm: Algorithm
    /// The lowercase hex encoding of the hash.
    public let encoded: String

    /// Parses and validates `algorithm:hex`.
    public init(parsing string: some StringProtocol) throws(FerryError) {
        guard let colon = string.firstIndex(of: ":") else {
            throw FerryError(.invalidDigest, "invalid digest '\(string.prefix(80))': expected 'sha256:<64 hex digits>'")
        }
        guard let algorithm = Algorithm(rawValue: String(string[..<colon])) else {
            throw FerryError(.invalidDigest, "invalid digest '\(string.prefix(80))': unsupported algorithm (sha256 and sha512 are supported)")
        }
        let encoded = string[string.index(after: colon)...]
        guard encoded.utf8.count == algorithm.encodedLength,
            encoded.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) })
        else {
            throw FerryError(
                .invalidDigest,
                "invalid digest '\(string.prefix(80))': \(algorithm.rawValue) needs \(algorithm.encodedLength) lowercase hex digits"
            )
        }
        self.algorithm = algorithm
        self.encoded = String(encoded)
    }

    public init?(_ description: String) {
        guard let digest = try? Digest(parsing: description) else { return nil }
        self = digest
    }

    init(algorithm: Algorithm, bytes: some Sequence<UInt8>) {
        self.algorithm = algorithm
        self.encoded = Hex.encode(bytes)
    }

    public var description: String { "\(algorithm.rawValue):\(encoded)" }

    /// The first 12 hex digits, as Docker shows short IDs.
    public var shortID: String { String(encoded.prefix(12)) }

    /// The sha256 digest of `bytes`.
    public static func sha256(of bytes: some DataProtocol) -> Digest {
        Digest(algorithm: .sha256, bytes: SHA256.hash(data: bytes))
    }

    public static func < (lhs: Digest, rhs: Digest) -> Bool { lhs.description < rhs.description }

    public init(parsingDescription text: String) throws(FerryError) { try self.init(parsing: text) }
}

enum Hex {
    private static let digits = Array("0123456789abcdef".utf8)

    static func encode(_ bytes: some Sequence<UInt8>) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(128)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
