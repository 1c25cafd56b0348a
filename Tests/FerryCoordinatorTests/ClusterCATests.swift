import Crypto
import FerryCore
import FerryMesh
import FerryTestSupport
import Foundation
import SwiftASN1
import Testing
import X509

@testable import FerryCoordinator

/// Certificates the cluster CA issues: only the leader's names the leader's reserved name; a
/// node's names only the node and its checked address, for mesh server and client use.
@Suite("ClusterCA")
struct ClusterCATests {
    static func withCA(_ body: (ClusterCA, DataDirectory) throws -> Void) async throws {
        try await withTemporaryDirectory("ferry-ca") { directory in
            let data = try DataDirectory(directory.path)
            try body(try ClusterCA.loadOrCreate(in: data), data)
        }
    }

    static func names(_ pem: String) throws -> Set<String> { Set(try MeshTLS.alternativeNames(ofPEM: pem)) }

    static func usages(_ pem: String) throws -> [ExtendedKeyUsage.Usage] {
        Array(try #require(try Certificate(pemEncoded: pem).extensions.extendedKeyUsage))
    }

    static var publicKey: String { P256.Signing.PrivateKey().publicKey.pemRepresentation }

    @Test("A node's certificate names the node and its address host, nothing else; server and client use")
    func nodeCertificate() async throws {
        try await Self.withCA { ca, _ in
            let pem = try ca.issue(publicKeyPEM: Self.publicKey, for: .node(name: "n1", address: try NodeAddress(parsing: "https://n1.example.com:5051")))
            #expect(try Self.names(pem) == ["n1", "n1.example.com"])
            #expect(try Self.usages(pem) == [.serverAuth, .clientAuth])
            let certificate = try Certificate(pemEncoded: pem)
            let keyUsage = try #require(try certificate.extensions.keyUsage)
            #expect(keyUsage.digitalSignature && !keyUsage.keyEncipherment && !keyUsage.keyCertSign)
            #expect(try #require(try certificate.extensions.basicConstraints) == .notCertificateAuthority)
            #expect(certificate.subject == (try MeshTLS.nodeSubject("n1")))

            let bare = try ca.issue(publicKeyPEM: Self.publicKey, for: .node(name: "n2", address: nil))
            #expect(try Self.names(bare) == ["n2"], "no localhost, 127.0.0.1 or ::1")
            // No IP address, not even its own: clients match IP names against the address they
            // reached, so a node at (or claiming) the leader's IP would pass for the leader.
            let byIP = try ca.issue(publicKeyPEM: Self.publicKey, for: .node(name: "n3", address: try NodeAddress(parsing: "https://10.0.0.1:5051")))
            #expect(try Self.names(byIP) == ["n3"])
            let ipLikeName = try Certificate(pemEncoded: try ca.issue(publicKeyPEM: Self.publicKey, for: .node(name: "10.0.0.1", address: nil)))
            #expect(Array(try #require(try ipLikeName.extensions.subjectAlternativeNames)) == [.dnsName("10.0.0.1")], "a name, as a DNS name")
        }
    }

    @Test("No node gets the leader's reserved name")
    func reservedName() async throws {
        try await Self.withCA { ca, _ in
            #expect(throws: FerryError.self) { try ca.issue(publicKeyPEM: Self.publicKey, for: .node(name: NodeAddress.leaderName, address: nil)) }
            #expect(throws: FerryError.self) { try ca.issue(publicKeyPEM: Self.publicKey, for: .node(name: "x.ferry.invalid", address: nil)) }
        }
    }

    @Test("The leader's certificate names its reserved name, for server use only")
    func leaderCertificate() async throws {
        try await Self.withCA { ca, _ in
            let pem = try ca.issue(publicKeyPEM: Self.publicKey, for: .leader(names: ["leader-host", "10.0.0.1"]))
            #expect(try Self.names(pem).isSuperset(of: [NodeAddress.leaderName, "leader-host", "10.0.0.1"]))
            #expect(try Self.usages(pem) == [.serverAuth])
            #expect(try Certificate(pemEncoded: pem).subject != (try MeshTLS.nodeSubject("leader")))
        }
    }

    @Test("A leader certificate from before the reserved name is issued again; a current one is kept")
    func upgrade() async throws {
        try await Self.withCA { ca, data in
            let first = try data.tlsIdentity { key in try ca.issue(publicKeyPEM: key, for: .node(name: "old-leader", address: nil)) }
            let isCurrent = { (pem: String) in (try? MeshTLS.alternativeNames(ofPEM: pem).contains(NodeAddress.leaderName)) == true }
            let renewed = try data.tlsIdentity(isCurrent: isCurrent) { key in try ca.issue(publicKeyPEM: key, for: .leader(names: [])) }
            #expect(renewed.certificate != first.certificate)
            #expect(try Self.names(renewed.certificate).contains(NodeAddress.leaderName))
            let kept = try data.tlsIdentity(isCurrent: isCurrent) { _ in throw FerryError(.internal, "issued again") }
            #expect(kept.certificate.trimmingWhitespace() == renewed.certificate.trimmingWhitespace() && kept.key.trimmingWhitespace() == renewed.key.trimmingWhitespace())
        }
    }

    @Test("A new CA: the old pair kept aside, the join token's secret kept under the new fingerprint, the leader's old certificate not taken for the new CA's")
    func newCA() async throws {
        let stranger = try await Self.otherCA()
        try await Self.withCA { old, data in
            let token = try JoinToken(parsing: try data.joinToken(fingerprint: old.fingerprint).token)
            let leaderCertificate = try old.issue(publicKeyPEM: Self.publicKey, for: .leader(names: []))
            let (new, kept) = try ClusterCA.replace(in: data, now: Date(timeIntervalSince1970: 1_800_000_000))
            #expect(new.fingerprint != old.fingerprint)
            #expect(kept.map { URL(fileURLWithPath: $0).lastPathComponent } == ["ca.pem.replaced-20270115T080000Z", "ca-key.pem.replaced-20270115T080000Z"])
            #expect(try MeshTLS.fingerprint(ofPEM: String(contentsOfFile: kept[0], encoding: .utf8)) == old.fingerprint)
            #expect(try ClusterCA.loadOrCreate(in: data).fingerprint == new.fingerprint, "the new pair is the directory's")
            let rewritten = try JoinToken(parsing: try String(contentsOfFile: data.joinTokenPath, encoding: .utf8).trimmingWhitespace())
            #expect(rewritten.secret != token.secret && rewritten.caFingerprint == new.fingerprint, "a new secret: the old one would join under the new fingerprint")
            #expect(old.issued(leaderCertificate) && !new.issued(leaderCertificate))
            #expect(new.issued(try new.issue(publicKeyPEM: Self.publicKey, for: .leader(names: []))))
            // The old CA vouches for the new one; not the other way round, and not for a stranger.
            let vouch = try String(contentsOfFile: data.caVouchPath, encoding: .utf8)
            #expect(new.isVouchedFor(by: vouch))
            let chain = [try Certificate(pemEncoded: new.certificatePEM), try Certificate(pemEncoded: vouch)]
            #expect(ClusterCA.vouches(old.certificatePEM, for: new.certificatePEM, in: chain))
            #expect(!ClusterCA.vouches(new.certificatePEM, for: old.certificatePEM, in: chain + [try Certificate(pemEncoded: old.certificatePEM)]))
            #expect(!ClusterCA.vouches(old.certificatePEM, for: stranger.certificatePEM, in: chain + [try Certificate(pemEncoded: stranger.certificatePEM)]))
            #expect(!ClusterCA.vouches(stranger.certificatePEM, for: new.certificatePEM, in: chain))
            // A certificate naming the old CA as its issuer but signed with another key, and a
            // leaf (not a CA) the old CA issued, vouch for nothing.
            let oldCertificate = try Certificate(pemEncoded: old.certificatePEM)
            let newCertificate = try Certificate(pemEncoded: new.certificatePEM)
            let forged = try Certificate(
                version: .v3, serialNumber: .init(), publicKey: newCertificate.publicKey,
                notValidBefore: Date().addingTimeInterval(-60), notValidAfter: Date().addingTimeInterval(3600),
                issuer: oldCertificate.subject, subject: newCertificate.subject, signatureAlgorithm: .ecdsaWithSHA256,
                extensions: try Certificate.Extensions { Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0)) },
                issuerPrivateKey: .init(P256.Signing.PrivateKey()))
            #expect(!ClusterCA.vouches(old.certificatePEM, for: new.certificatePEM, in: [newCertificate, forged]))
            let leafKey = P256.Signing.PrivateKey()
            let leaf = try Certificate(pemEncoded: try old.issue(publicKeyPEM: leafKey.publicKey.pemRepresentation, for: .node(name: "n1", address: nil)))
            let selfSignedLeaf = try Certificate(
                version: .v3, serialNumber: .init(), publicKey: leaf.publicKey,
                notValidBefore: Date().addingTimeInterval(-60), notValidAfter: Date().addingTimeInterval(3600),
                issuer: leaf.subject, subject: leaf.subject, signatureAlgorithm: .ecdsaWithSHA256,
                extensions: try Certificate.Extensions {}, issuerPrivateKey: .init(leafKey))
            #expect(!ClusterCA.vouches(old.certificatePEM, for: try selfSignedLeaf.serializeAsPEM().pemString, in: [selfSignedLeaf, leaf]))
            // Again the same second: the first replaced pair is not overwritten.
            let (third, keptAgain) = try ClusterCA.replace(in: data, now: Date(timeIntervalSince1970: 1_800_000_000))
            #expect(keptAgain.map { URL(fileURLWithPath: $0).lastPathComponent } == ["ca.pem.replaced-20270115T080000Z-2", "ca-key.pem.replaced-20270115T080000Z-2"])
            #expect(try MeshTLS.fingerprint(ofPEM: String(contentsOfFile: kept[0], encoding: .utf8)) == old.fingerprint)
            #expect(third.fingerprint != new.fingerprint)
        }
    }

    @Test("A new-ca stopped half-way is finished by running it again: between its two moves, and with half a new pair written")
    func newCAResumes() async throws {
        for stop in ["between the moves", "half a new pair"] {
            try await withTemporaryDirectory("ferry-ca-resume") { directory in
                let data = try DataDirectory(directory.path)
                let old = try ClusterCA.loadOrCreate(in: data)
                let stamp = "20270115T080000Z"
                #expect(rename(data.caCertificatePath, "\(data.caCertificatePath).replaced-\(stamp)") == 0)
                if stop == "half a new pair" {
                    #expect(rename(data.caKeyPath, "\(data.caKeyPath).replaced-\(stamp)") == 0)
                    try data.writeAtomically(P256.Signing.PrivateKey().pemRepresentation, to: data.caKeyPath, mode: 0o600)
                }
                // The leader's start refuses such a directory; new-ca finishes it.
                #expect(throws: FerryError.self) { try ClusterCA.existingPair(in: directory.path) }
                let (new, kept) = try ClusterCA.replace(in: data)
                #expect(kept.map { URL(fileURLWithPath: $0).lastPathComponent } == ["ca.pem.replaced-\(stamp)", "ca-key.pem.replaced-\(stamp)"], "\(stop)")
                #expect(try ClusterCA.existingPair(in: directory.path) != nil)
                #expect(ClusterCA.vouches(
                    old.certificatePEM, for: new.certificatePEM,
                    in: [try Certificate(pemEncoded: try String(contentsOfFile: data.caVouchPath, encoding: .utf8))]), "\(stop)")
            }
        }
    }

    @Test("A new-ca stopped after its new pair is finished, not rotated again; a live CA that lost its certificate is not taken for a half-made one")
    func newCAStoppedLate() async throws {
        try await withTemporaryDirectory("ferry-ca-late") { directory in
            let data = try DataDirectory(directory.path)
            let old = try ClusterCA.loadOrCreate(in: data)
            let (new, _) = try ClusterCA.replace(in: data)
            // Stopped after the new pair: no vouch, the join token still the old one.
            unlink(data.caVouchPath)
            let (again, kept) = try ClusterCA.replace(in: data)
            #expect(again.fingerprint == new.fingerprint, "finished, not a third CA")
            #expect(try MeshTLS.fingerprint(ofPEM: String(contentsOfFile: kept[0], encoding: .utf8)) == old.fingerprint)
            #expect(new.isVouchedFor(by: try String(contentsOfFile: data.caVouchPath, encoding: .utf8)))
            // The live (vouched) CA loses its certificate: new-ca refuses, and its key stays.
            unlink(data.caCertificatePath)
            #expect(throws: FerryError.self) { try ClusterCA.replace(in: data) }
            #expect(FileManager.default.fileExists(atPath: data.caKeyPath))
        }
    }

    /// A CA of another cluster.
    static func otherCA() async throws -> ClusterCA {
        try await withTemporaryDirectory("ferry-ca-other") { directory in try ClusterCA.loadOrCreate(in: try DataDirectory(directory.path)) }
    }
}
