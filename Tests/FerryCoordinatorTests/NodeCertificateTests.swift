import Crypto
import FerryCore
import FerryMesh
import FerryTestSupport
import Foundation
import Synchronization
import Testing

@testable import FerryCoordinator

/// A follower's certificate renewal as it writes its files. The leader revokes the current
/// certificate as it issues the next: an audit's node with a full disk asked, could not store the
/// answer, and presented a revoked certificate until that one was due again.
@Suite("NodeCertificate renewal")
struct NodeCertificateTests {
    /// A data directory with a cluster CA and a node certificate it issued; `body` gets the
    /// loaded certificate and an issuer that counts the leader's issues.
    static func withNode(_ body: (DataDirectory, NodeCertificate, Issuer) async throws -> Void) async throws {
        try await withTemporaryDirectory("ferry-node-cert") { directory in
            let data = try DataDirectory(directory.path)
            let ca = try ClusterCA.loadOrCreate(in: data)
            let key = P256.Signing.PrivateKey()
            try PrivateFile.write(Array(key.pemRepresentation.utf8), to: data.tlsKeyPath)
            try PrivateFile.write(Array(try ca.issue(publicKeyPEM: key.publicKey.pemRepresentation, for: .node(name: "n1", address: nil)).utf8), to: data.tlsCertificatePath)
            try await body(data, try NodeCertificate(directory: data), Issuer(ca: ca))
        }
    }

    final class Issuer: Sendable {
        let ca: ClusterCA
        let issued = Mutex(0)
        init(ca: ClusterCA) { self.ca = ca }

        func issue(_ request: CertificateRequest) throws -> CertificateResponse {
            issued.withLock { $0 += 1 }
            return CertificateResponse(certificate: try ca.issue(publicKeyPEM: request.publicKey, for: .node(name: "n1", address: nil)))
        }
    }

    /// A new key and the certificate the CA issues for it, as a renewal gets them; its serial.
    static func newPair(_ issuer: Issuer) throws -> (key: P256.Signing.PrivateKey, certificate: String, serial: String) {
        let key = P256.Signing.PrivateKey()
        let issued = try issuer.issue(CertificateRequest(publicKey: key.publicKey.pemRepresentation))
        return (key, issued.certificate, try MeshTLS.certificateInfo(ofPEM: issued.certificate).serial)
    }

    static func files(_ data: DataDirectory) throws -> (certificate: String, key: String) {
        (try String(contentsOfFile: data.tlsCertificatePath, encoding: .utf8), try String(contentsOfFile: data.tlsKeyPath, encoding: .utf8))
    }

    @Test("a renewal replaces the pair on disk and in use; nothing is left beside it")
    func renewal() async throws {
        try await Self.withNode { data, certificate, issuer in
            let before = certificate.serial
            try await certificate.renew { try issuer.issue($0) }
            #expect(certificate.serial != before && issuer.issued.withLock { $0 } == 1)
            let (pem, key) = try Self.files(data)
            #expect(NodeCertificate.matches(certificate: pem, key: key))
            #expect(try MeshTLS.certificateInfo(ofPEM: pem).serial == certificate.serial)
            let (nextKey, nextCertificate) = NodeCertificate.nextPaths(data)
            #expect(!FileManager.default.fileExists(atPath: nextKey) && !FileManager.default.fileExists(atPath: nextCertificate))
            // Loaded again (a restart): the same pair.
            #expect(try NodeCertificate(directory: data).serial == certificate.serial)
        }
    }

    @Test("a node that cannot write its new key asks the leader nothing and keeps its certificate")
    func noRoomNoRequest() async throws {
        try await Self.withNode { data, certificate, issuer in
            let before = certificate.serial
            // Where the new key goes cannot be written (a directory in the way: root-proof, unlike a mode).
            let (nextKey, _) = NodeCertificate.nextPaths(data)
            try FileManager.default.createDirectory(atPath: nextKey, withIntermediateDirectories: false)
            await #expect(throws: FerryError.self) { try await certificate.renew { try issuer.issue($0) } }
            #expect(issuer.issued.withLock { $0 } == 0, "the leader was not asked, so it revoked nothing")
            #expect(certificate.serial == before)
            let (pem, key) = try Self.files(data)
            let serial = try MeshTLS.certificateInfo(ofPEM: pem).serial
            #expect(NodeCertificate.matches(certificate: pem, key: key) && serial == before)
        }
    }

    /// A review found a failed second rename left the new certificate with the old key and
    /// deleted the only copy of the new key: the node could not start again.
    @Test("a renewal cut after its key went in place is completed by the next renewal, which asks nothing, or the next start")
    func pairCutAfterTheKeyIsCompleted() async throws {
        try await Self.withNode { data, certificate, issuer in
            // As a renewal leaves it when its certificate's rename fails: the new key in place,
            // the new certificate beside the old one.
            let (key, issued, newSerial) = try Self.newPair(issuer)
            let (_, nextCertificate) = NodeCertificate.nextPaths(data)
            try PrivateFile.write(Array(key.pemRepresentation.utf8), to: data.tlsKeyPath)
            try PrivateFile.write(Array(issued.utf8), to: nextCertificate)
            try await certificate.renew { try issuer.issue($0) }
            #expect(issuer.issued.withLock { $0 } == 1, "only the certificate made here: the renewal asked nothing")
            #expect(certificate.serial == newSerial, "the completed pair is in use")
            let (pem, onDisk) = try Self.files(data)
            #expect(NodeCertificate.matches(certificate: pem, key: onDisk))
            #expect(!FileManager.default.fileExists(atPath: nextCertificate))
            #expect(try NodeCertificate(directory: data).serial == newSerial)
        }
    }

    @Test("a pair that cannot be completed is refused at start with what to do")
    func unmatchedPairIsRefused() async throws {
        try await Self.withNode { data, _, _ in
            try PrivateFile.write(Array(P256.Signing.PrivateKey().pemRepresentation.utf8), to: data.tlsKeyPath)
            #expect(throws: FerryError.self) { try NodeCertificate(directory: data) }
        }
    }

    /// Where a renewal cut short leaves its new pair: both halves beside the old pair (stopped
    /// after the leader's answer was written; a review found that pair thrown away), or one half
    /// in place and the other beside it (stopped between the renames).
    enum Cut: String, CaseIterable, Sendable {
        case bothBeside, keyBeside, certificateBeside
    }

    @Test("a renewal cut short is completed at the next start", arguments: Cut.allCases)
    func cutRenewalIsCompleted(_ cut: Cut) async throws {
        try await Self.withNode { data, _, issuer in
            let (key, issued, serial) = try Self.newPair(issuer)
            let (nextKey, nextCertificate) = NodeCertificate.nextPaths(data)
            try PrivateFile.write(Array(key.pemRepresentation.utf8), to: cut == .certificateBeside ? data.tlsKeyPath : nextKey)
            try PrivateFile.write(Array(issued.utf8), to: cut == .keyBeside ? data.tlsCertificatePath : nextCertificate)
            #expect(try NodeCertificate(directory: data).serial == serial)
            let (pem, onDisk) = try Self.files(data)
            #expect(NodeCertificate.matches(certificate: pem, key: onDisk))
            #expect(!FileManager.default.fileExists(atPath: nextKey) && !FileManager.default.fileExists(atPath: nextCertificate))
            #expect(!NodeCertificate.matches(certificate: pem, key: P256.Signing.PrivateKey().pemRepresentation))
            // A key and the room beside the pair (stopped before the answer): the pair stays.
            try PrivateFile.write(Array(P256.Signing.PrivateKey().pemRepresentation.utf8), to: nextKey)
            try PrivateFile.write([UInt8](repeating: UInt8(ascii: " "), count: NodeCertificate.certificateRoom), to: nextCertificate)
            #expect(try NodeCertificate(directory: data).serial == serial)
        }
    }
}
