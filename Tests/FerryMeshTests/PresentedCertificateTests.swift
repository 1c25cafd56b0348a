import FerryMesh
import Foundation
import Testing

/// What a renewal may revoke besides the certificate on record (docs/operations.md, *Certificates*).
@Suite("PresentedCertificate")
struct PresentedCertificateTests {
    @Test("a renewal revokes the certificate a node presented only when it names that node and is not the one on record")
    func unrecorded() throws {
        let own = PresentedCertificate(serial: "0b", expiresAt: Date(), subject: try MeshTLS.nodeSubject("a"))
        #expect(own.isUnrecorded(ofNode: "a", recorded: "0a"), "issued after the backup the leader was restored from")
        #expect(own.isUnrecorded(ofNode: "a", recorded: nil))
        #expect(!own.isUnrecorded(ofNode: "a", recorded: "0B"), "the one on record, revoked by the renewal anyway")
        #expect(!own.isUnrecorded(ofNode: "b", recorded: "0a"), "another node's certificate is never revoked on this one's word")
        let other = PresentedCertificate(serial: "0c", expiresAt: Date(), subject: try MeshTLS.nodeSubject("ab"))
        #expect(!other.isUnrecorded(ofNode: "a", recorded: "0a"))
    }
}
