import Crypto
import FerryCore
import FerryMesh
import Foundation
import NIOCore
import NIOSSL
import Synchronization

/// A follower's TLS certificate and key, as its server presents them and its peer client sends
/// them: loaded from the data directory, replaced in place when the follower renews the
/// certificate (``MeshAPI/certificate``), with no restart — new connections use the new one.
final class NodeCertificate: Sendable {
    struct Current: Sendable {
        var certificatePEM: String
        var chain: [NIOSSLCertificate]
        var key: NIOSSLPrivateKey
        var serial: String
        var notBefore: Date
        var notAfter: Date
    }

    private let directory: DataDirectory
    private let caPEM: String
    private let state: Mutex<Current>

    /// Loads the node's certificate, key and cluster CA from `directory`.
    init(directory: DataDirectory) throws(FerryError) {
        guard let certificate = try? String(contentsOfFile: directory.tlsCertificatePath, encoding: .utf8),
            let key = try? String(contentsOfFile: directory.tlsKeyPath, encoding: .utf8),
            let ca = try? String(contentsOfFile: directory.caCertificatePath, encoding: .utf8)
        else {
            throw FerryError(.configuration, "this node's TLS files are missing in \(directory.path): delete node.json and join again")
        }
        self.directory = directory
        self.caPEM = ca
        self.state = Mutex(try Self.parse(certificate: certificate, key: key, ca: ca))
    }

    var current: Current { state.withLock { $0 } }
    var serial: String { current.serial }
    var certificatePEM: String { current.certificatePEM }
    var clusterCA: String { caPEM }

    /// The files to present as a TLS client, named with the certificate's serial so that a client
    /// made after a renewal is a new one (``MeshHTTP`` keeps one per identity).
    var clientIdentity: MeshTLS.ClientIdentity {
        MeshTLS.ClientIdentity(certificateFile: directory.tlsCertificatePath, keyFile: directory.tlsKeyPath, generation: serial)
    }

    /// Due for renewal: two thirds of its life have passed.
    func isDue(now: Date = Date()) -> Bool {
        let current = current
        return now >= current.notAfter.addingTimeInterval(-current.notAfter.timeIntervalSince(current.notBefore) / 3)
    }

    /// Presents the current certificate in every TLS handshake of the node's server.
    var serverCallback: NIOSSLContextCallback {
        { [self] _, promise in
            let current = self.current
            var override = NIOSSLContextConfigurationOverride()
            override.certificateChain = current.chain.map { .certificate($0) }
            override.privateKey = .privateKey(current.key)
            promise.succeed(override)
        }
    }

    /// Asks the leader for a certificate for a new key, writes both to the data directory and
    /// uses them from the next connection on.
    func renew(with mesh: MeshClient) async throws {
        let key = P256.Signing.PrivateKey()
        let response = try await mesh.renewCertificate(CertificateRequest(publicKey: key.publicKey.pemRepresentation))
        let renewed = try Self.parse(certificate: response.certificate, key: key.pemRepresentation, ca: caPEM)
        try directory.writeAtomically(key.pemRepresentation + "\n", to: directory.tlsKeyPath, mode: 0o600)
        try directory.writeAtomically(response.certificate + "\n", to: directory.tlsCertificatePath, mode: 0o600)
        state.withLock { $0 = renewed }
    }

    private static func parse(certificate: String, key: String, ca: String) throws(FerryError) -> Current {
        do {
            let leaf = try NIOSSLCertificate(bytes: Array(certificate.utf8), format: .pem)
            let authority = try NIOSSLCertificate(bytes: Array(ca.utf8), format: .pem)
            let privateKey = try NIOSSLPrivateKey(bytes: Array(key.utf8), format: .pem)
            let info = try MeshTLS.certificateInfo(ofPEM: certificate)
            return Current(
                certificatePEM: certificate, chain: [leaf, authority], key: privateKey, serial: info.serial, notBefore: info.notBefore,
                notAfter: info.notAfter)
        } catch {
            throw FerryError(.configuration, "cannot use this node's TLS certificate and key: \(error)")
        }
    }
}
