import Crypto
import Foundation
import SwiftASN1
import X509

/// A node's proof that it holds the key of the certificate it uses now, sent with a renewal
/// (``CertificateRequest/current``): the certificate, and a signature with its key over the
/// request's new public key (``signedBytes(newPublicKey:)``), so it proves nothing for any other request.
public struct PossessionProof: Codable, Sendable, Hashable {
    /// PEM.
    public var certificate: String
    /// Base64 of the DER ECDSA P-256 signature.
    public var signature: String

    public init(certificate: String, signature: String) {
        self.certificate = certificate
        self.signature = signature
    }

    /// Signs a renewal for `newPublicKey` with `key`, the key of `certificate`.
    public init(certificate: String, key: P256.Signing.PrivateKey, newPublicKey: String) throws {
        let signature = try key.signature(for: Self.signedBytes(newPublicKey: newPublicKey))
        self.init(certificate: certificate, signature: signature.derRepresentation.base64EncodedString())
    }

    /// What the signature covers.
    public static func signedBytes(newPublicKey: String) -> Data {
        Data("ferry certificate renewal\n\(newPublicKey)".utf8)
    }

    /// The certificate this proves, if `authority` (the cluster CA's certificate) issued it, it
    /// is valid at `now`, and its key signed the renewal for `newPublicKey`; nil otherwise.
    public func verified(issuedBy authority: Certificate, newPublicKey: String, now: Date) -> PresentedCertificate? {
        guard let certificate = try? Certificate(pemEncoded: self.certificate),
            certificate.issuer == authority.subject, authority.publicKey.isValidSignature(certificate.signature, for: certificate),
            certificate.notValidBefore <= now, now < certificate.notValidAfter,
            let key = P256.Signing.PublicKey(certificate.publicKey),
            let der = Data(base64Encoded: signature), let signature = try? P256.Signing.ECDSASignature(derRepresentation: der),
            key.isValidSignature(signature, for: Self.signedBytes(newPublicKey: newPublicKey))
        else { return nil }
        return PresentedCertificate(serial: MeshTLS.serial(of: certificate), expiresAt: certificate.notValidAfter, subject: certificate.subject)
    }
}

/// A node certificate a renewal proved the node holds (``PossessionProof``): what the renewal
/// may revoke besides the certificate the leader last issued (one the leader does not know,
/// after a restore from an older backup). Only a proven certificate counts, never a serial a
/// request names: a node can only have a certificate it holds the key of revoked.
public struct PresentedCertificate: Sendable, Hashable {
    /// Lowercase hex, as revocation lists name it.
    public var serial: String
    public var expiresAt: Date
    /// The certificate's subject, to compare with ``MeshTLS/nodeSubject(_:)``.
    public var subject: DistinguishedName

    public init(serial: String, expiresAt: Date, subject: DistinguishedName) {
        self.serial = serial
        self.expiresAt = expiresAt
        self.subject = subject
    }

    /// Whether a renewal of node `name`, whose certificate on record has serial `recorded`, is
    /// to revoke this one as well: it names that node (a certificate of another's is never
    /// revoked on this one's word) and is not the one on record (revoked by any renewal).
    public func isUnrecorded(ofNode name: String, recorded: String?) -> Bool {
        (try? MeshTLS.nodeSubject(name)) == subject && serial != recorded?.lowercased()
    }
}
