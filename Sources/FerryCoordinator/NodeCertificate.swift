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
        let (certificatePEM, keyPEM) = Self.finishInterruptedRenewal(in: directory, certificate: certificate, key: key)
        self.state = Mutex(try Self.parse(certificate: certificatePEM, key: keyPEM, ca: ca))
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
        try await renew { try await mesh.renewCertificate($0) }
    }

    /// Room kept for the certificate before the leader is asked (a node's is about 1 KiB).
    static let certificateRoom = 16 * 1024

    /// As ``renew(with:)``, asking `issue`. The leader revokes the current certificate as it
    /// issues the next, so the new key, and room for the certificate, are written first: a node
    /// whose disk is full asks nothing and keeps a valid certificate (before, it asked, could not
    /// store the answer, and presented a revoked certificate until that one was due). The new
    /// pair then replaces the old by renames (certificate first; ``finishInterruptedRenewal``
    /// completes the pair after a crash between them).
    func renew(issue: (CertificateRequest) async throws -> CertificateResponse) async throws {
        let key = P256.Signing.PrivateKey()
        let keyPEM = key.pemRepresentation + "\n"
        let (nextKey, nextCertificate) = Self.nextPaths(directory)
        // Kept when the certificate is in place but its key could not follow: the next start
        // completes the pair (``finishInterruptedRenewal``).
        var keepNextKey = false
        defer {
            if !keepNextKey { unlink(nextKey) }
            unlink(nextCertificate)
        }
        try PrivateFile.write(Array(keyPEM.utf8), to: nextKey)
        try PrivateFile.write([UInt8](repeating: UInt8(ascii: " "), count: Self.certificateRoom), to: nextCertificate)
        let response = try await issue(CertificateRequest(publicKey: key.publicKey.pemRepresentation))
        let renewed = try Self.parse(certificate: response.certificate, key: key.pemRepresentation, ca: caPEM)
        try Self.overwrite(nextCertificate, with: Array((response.certificate + "\n").utf8))
        guard rename(nextCertificate, directory.tlsCertificatePath) == 0 else {
            throw FerryError(.configuration, "cannot replace this node's TLS certificate in \(directory.path): \(String(cString: strerror(errno)))")
        }
        // From here the certificate on disk is the new one: its server presents the new pair.
        state.withLock { $0 = renewed }
        guard rename(nextKey, directory.tlsKeyPath) == 0 else {
            keepNextKey = true
            throw FerryError(
                .configuration,
                "cannot put this node's new TLS key in place in \(directory.path): \(String(cString: strerror(errno))); restart the follower (it completes the pair at start)")
        }
    }

    static func nextPaths(_ directory: DataDirectory) -> (key: String, certificate: String) {
        (directory.tlsKeyPath + ".next", directory.tlsCertificatePath + ".next")
    }

    /// Writes `bytes` over the start of the existing file `path` (within the room written before,
    /// so no new space is needed) and cuts it to their length.
    static func overwrite(_ path: String, with bytes: [UInt8]) throws(FerryError) {
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { throw FerryError(.configuration, "cannot write '\(path)': \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var failure = bytes.withUnsafeBytes { LeaderBackup.writeAll(fd, $0) }
        if failure == 0, ftruncate(fd, off_t(bytes.count)) != 0 || fsync(fd) != 0 { failure = errno }
        guard failure == 0 else { throw FerryError(.insufficientSpace, "cannot write '\(path)': \(String(cString: strerror(failure)))") }
    }

    /// A renewal interrupted between its two renames left the new certificate beside the old
    /// key, the new key in `tls-key.pem.next`: that key is put in place when it is the
    /// certificate's. Leftovers of a renewal that never got its answer are removed. Returns the
    /// pair to use.
    static func finishInterruptedRenewal(in directory: DataDirectory, certificate: String, key: String) -> (String, String) {
        let (nextKey, nextCertificate) = nextPaths(directory)
        unlink(nextCertificate)
        guard let next = try? String(contentsOfFile: nextKey, encoding: .utf8), !matches(certificate: certificate, key: key),
            matches(certificate: certificate, key: next)
        else {
            unlink(nextKey)
            return (certificate, key)
        }
        // The pair in use is the right one even if the rename fails (it is tried at every start).
        _ = rename(nextKey, directory.tlsKeyPath)
        return (certificate, next)
    }

    /// Whether `key` (PEM) is the private key of `certificate`'s public key.
    static func matches(certificate: String, key: String) -> Bool {
        guard let leaf = try? NIOSSLCertificate(bytes: Array(certificate.utf8), format: .pem),
            let spki = try? leaf.extractPublicKey().toSPKIBytes(),
            let privateKey = try? P256.Signing.PrivateKey(pemRepresentation: key)
        else { return false }
        return spki == Array(privateKey.publicKey.derRepresentation)
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
