import Foundation
import NIOSSL
import SwiftASN1
import Synchronization
import X509

/// The serials of node certificates the leader revoked (removed nodes, replaced certificates), as
/// its last heartbeat answer listed them: a follower's server refuses every request over a
/// connection whose client certificate is on the list.
public final class CertificateRevocations: Sendable {
    private let serials = Mutex<Set<String>>([])

    public init() {}

    /// Replaces the list with the leader's.
    public func update(_ list: [String]) {
        let set = Set(list.map { $0.lowercased() })
        serials.withLock { $0 = set }
    }

    public var isEmpty: Bool { serials.withLock { $0.isEmpty } }

    /// Whether `serial` (lowercase hex) is revoked.
    public func isRevoked(serial: String) -> Bool { serials.withLock { $0.contains(serial) } }

    /// Whether `certificate` is revoked; one that cannot be parsed counts as revoked.
    public func isRevoked(_ certificate: NIOSSLCertificate) -> Bool {
        guard !isEmpty else { return false }
        guard let serial = MeshTLS.serial(of: certificate) else { return true }
        return isRevoked(serial: serial)
    }
}

extension MeshTLS {
    /// The serial number of a certificate, lowercase hex: how revocation lists name it.
    public static func serial(of certificate: Certificate) -> String {
        certificate.serialNumber.bytes.map { String($0, radix: 16).leftPadded(to: 2) }.joined()
    }

    public static func serial(of certificate: NIOSSLCertificate) -> String? {
        guard let der = try? certificate.toDERBytes(), let parsed = try? Certificate(derEncoded: der) else { return nil }
        return serial(of: parsed)
    }

    /// The serial and expiry of the certificate in `pem`.
    public static func serialAndExpiry(ofPEM pem: String) throws -> (serial: String, expiresAt: Date) {
        let info = try certificateInfo(ofPEM: pem)
        return (info.serial, info.notAfter)
    }

    /// The serial and validity of the certificate in `pem`.
    public static func certificateInfo(ofPEM pem: String) throws -> (serial: String, notBefore: Date, notAfter: Date) {
        let certificate = try Certificate(pemEncoded: pem)
        return (serial(of: certificate), certificate.notValidBefore, certificate.notValidAfter)
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
