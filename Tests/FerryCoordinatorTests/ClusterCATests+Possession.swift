import Crypto
import FerryMesh
import FerryTestSupport
import Foundation
import SwiftASN1
import Testing
import X509

@testable import FerryCoordinator

extension ClusterCATests {
    /// A renewal revokes the certificate the node proves it uses (docs/security.md, *Certificates
    /// expire and renew*): only one this CA issued, valid now, whose key signed that very renewal.
    @Test("a possession proof counts only for a certificate of this CA, valid now, whose key signed this renewal's new key")
    func possessionProof() async throws {
        let key = P256.Signing.PrivateKey()
        var foreign = ""
        try await Self.withCA { other, _ in foreign = try other.issue(publicKeyPEM: key.publicKey.pemRepresentation, for: .node(name: "a", address: nil)) }
        try await Self.withCA { ca, _ in
            let pem = try ca.issue(publicKeyPEM: key.publicKey.pemRepresentation, for: .node(name: "a", address: nil))
            let next = Self.publicKey
            let proof = try PossessionProof(certificate: pem, key: key, newPublicKey: next)
            let proven = try #require(ca.verified(proof, newPublicKey: next))
            #expect(proven.serial == (try MeshTLS.serialAndExpiry(ofPEM: pem)).serial)
            #expect(proven.isUnrecorded(ofNode: "a", recorded: "00") && !proven.isUnrecorded(ofNode: "b", recorded: "00"))

            #expect(ca.verified(proof, newPublicKey: Self.publicKey) == nil, "signed for another renewal")
            let stranger = try PossessionProof(certificate: pem, key: P256.Signing.PrivateKey(), newPublicKey: next)
            #expect(ca.verified(stranger, newPublicKey: next) == nil, "a certificate without its key")
            #expect(ca.verified(PossessionProof(certificate: pem, signature: "not base64!"), newPublicKey: next) == nil)
            #expect(ca.verified(PossessionProof(certificate: "not a certificate", signature: proof.signature), newPublicKey: next) == nil)
            #expect(ca.verified(proof, newPublicKey: next, now: Date().addingTimeInterval(ClusterCA.leafLifetime * 2)) == nil, "expired")
            let other = try PossessionProof(certificate: foreign, key: key, newPublicKey: next)
            #expect(ca.verified(other, newPublicKey: next) == nil, "issued by another CA")

            // A forgery naming this CA as issuer, with a peer's serial (seen in every TLS
            // handshake), signed by the node's own key: only the CA's signature check stops it.
            let victim = try Certificate(pemEncoded: try ca.issue(publicKeyPEM: Self.publicKey, for: .node(name: "b", address: nil)))
            let authority = try Certificate(pemEncoded: ca.certificatePEM)
            let now = Date()
            let forged = try Certificate(
                version: .v3, serialNumber: victim.serialNumber, publicKey: .init(key.publicKey),
                notValidBefore: now.addingTimeInterval(-60), notValidAfter: now.addingTimeInterval(3600),
                issuer: authority.subject, subject: try MeshTLS.nodeSubject("a"), signatureAlgorithm: .ecdsaWithSHA256,
                extensions: Certificate.Extensions(), issuerPrivateKey: .init(key))
            let forgery = try PossessionProof(certificate: try forged.serializeAsPEM().pemString, key: key, newPublicKey: next)
            #expect(ca.verified(forgery, newPublicKey: next) == nil, "the CA's name without its signature")
        }
    }
}
