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
        guard let ca = try? String(contentsOfFile: directory.caCertificatePath, encoding: .utf8) else {
            throw FerryError(.configuration, "this node's TLS files are missing in \(directory.path): delete node.json and join again")
        }
        self.directory = directory
        self.caPEM = ca
        let (certificatePEM, keyPEM, _) = try Self.completePair(in: directory)
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
    /// pair then replaces the old by two renames (key, then certificate); the state in use
    /// switches last, so that a peer client made meanwhile (it reads the files, see
    /// ``clientIdentity``) is made again for the new serial. A pair cut between the renames is
    /// completed from the `.next` file left (``completePair(in:)``), at the next renewal or start.
    func renew(issue: (CertificateRequest) async throws -> CertificateResponse) async throws {
        // A renewal cut between its renames: its pair is completed and used; nothing is asked.
        let onDisk = try Self.completePair(in: directory)
        // A new pair still waits beside the old one (its rename failed again): nothing new is
        // asked for, which would replace it.
        guard !onDisk.kept else {
            throw FerryError(.configuration, "this node's renewed TLS pair cannot be put in place in \(directory.path); it is tried again at the next renewal or start: check the file system")
        }
        if (try? MeshTLS.certificateInfo(ofPEM: onDisk.certificate).serial) != serial {
            let completed = try Self.parse(certificate: onDisk.certificate, key: onDisk.key, ca: caPEM)
            state.withLock { $0 = completed }
            return
        }
        let key = P256.Signing.PrivateKey()
        let keyPEM = key.pemRepresentation + "\n"
        let (nextKey, nextCertificate) = Self.nextPaths(directory)
        // Kept once the leader has answered and a rename fails: ``completePair(in:)`` puts them
        // in place (the leader revoked the old certificate).
        var keepNextKey = false
        var keepNextCertificate = false
        defer {
            if !keepNextKey { unlink(nextKey) }
            if !keepNextCertificate { unlink(nextCertificate) }
        }
        try PrivateFile.write(Array(keyPEM.utf8), to: nextKey)
        try PrivateFile.write([UInt8](repeating: UInt8(ascii: " "), count: Self.certificateRoom), to: nextCertificate)
        // Proof of the pair in use (the leader revokes it too if its record names another); a
        // key that cannot be read as P-256 sends none.
        let newPublicKey = key.publicKey.pemRepresentation
        let current = (try? P256.Signing.PrivateKey(pemRepresentation: onDisk.key)).flatMap {
            try? PossessionProof(certificate: onDisk.certificate, key: $0, newPublicKey: newPublicKey)
        }
        let response = try await issue(CertificateRequest(publicKey: newPublicKey, current: current))
        let renewed = try Self.parse(certificate: response.certificate, key: key.pemRepresentation, ca: caPEM)
        try Self.overwrite(nextCertificate, with: Array((response.certificate + "\n").utf8))
        guard rename(nextKey, directory.tlsKeyPath) == 0 else {
            let failure = errno
            (keepNextKey, keepNextCertificate) = (true, true)
            throw FerryError(
                .configuration,
                "cannot put this node's new TLS key in place in \(directory.path): \(String(cString: strerror(failure))); it is tried again at the next renewal or start")
        }
        guard rename(nextCertificate, directory.tlsCertificatePath) == 0 else {
            let failure = errno
            keepNextCertificate = true
            throw FerryError(
                .configuration,
                "cannot put this node's new TLS certificate in place in \(directory.path): \(String(cString: strerror(failure))); it is completed at the next renewal or start")
        }
        state.withLock { $0 = renewed }
    }

    static func nextPaths(_ directory: DataDirectory) -> (key: String, certificate: String) {
        (directory.tlsKeyPath + ".next", directory.tlsCertificatePath + ".next")
    }

    /// Writes `bytes` over the start of the existing file `path` (within the room written before,
    /// so no new space is needed on most file systems) and cuts it to their length.
    static func overwrite(_ path: String, with bytes: [UInt8]) throws(FerryError) {
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { throw FerryError(.configuration, "cannot write '\(path)': \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var failure = bytes.withUnsafeBytes { PrivateFile.writeAll(fd, $0) }
        if failure == 0, ftruncate(fd, off_t(bytes.count)) != 0 || fsync(fd) != 0 { failure = errno }
        guard failure == 0 else { throw FerryError(.insufficientSpace, "cannot write '\(path)': \(String(cString: strerror(failure)))") }
    }

    /// The certificate and key on disk, as a matching pair: one that a renewal cut between its
    /// renames left apart (the new key beside the old certificate) is completed from the
    /// certificate it left in `tls.pem.next` (or a key in `tls-key.pem.next`); leftovers of a
    /// renewal that never got its answer are removed. Throws when the pair cannot be made whole.
    /// `kept`: a new pair is still beside the old one returned (its rename failed).
    static func completePair(in directory: DataDirectory) throws(FerryError) -> (certificate: String, key: String, kept: Bool) {
        guard let certificate = try? String(contentsOfFile: directory.tlsCertificatePath, encoding: .utf8),
            let key = try? String(contentsOfFile: directory.tlsKeyPath, encoding: .utf8)
        else {
            throw FerryError(.configuration, "this node's TLS files are missing in \(directory.path): delete node.json and join again")
        }
        let (nextKey, nextCertificate) = nextPaths(directory)
        // A file whose rename failed is kept: it is the only copy of its half of the pair.
        var kept: Set<String> = []
        defer {
            for leftover in [nextKey, nextCertificate, nextKey + ".tmp", nextCertificate + ".tmp"] where !kept.contains(leftover) { unlink(leftover) }
        }
        let newKey = try? String(contentsOfFile: nextKey, encoding: .utf8)
        let newCertificate = try? String(contentsOfFile: nextCertificate, encoding: .utf8)
        /// Renames `file` (`.next`) into `place`; when that fails it is kept (the only copy of
        /// its half) and the rename's errno returned.
        func move(_ file: String, to place: String) -> Int32? {
            guard rename(file, place) != 0 else { return nil }
            let failure = errno
            kept.insert(file)
            return failure
        }
        // A whole new pair beside the old one (stopped after the leader's answer was written,
        // before the renames): the leader revoked the old one, so the new one goes in place.
        if let newKey, let newCertificate, matches(certificate: newCertificate, key: newKey) {
            if let failure = move(nextKey, to: directory.tlsKeyPath) {
                kept.insert(nextCertificate)
                guard matches(certificate: certificate, key: key) else { throw unmatched(directory, retry: failure) }
                return (certificate, key, true)
            }
            if let failure = move(nextCertificate, to: directory.tlsCertificatePath) { throw unmatched(directory, retry: failure) }
            return (newCertificate, newKey, false)
        }
        if matches(certificate: certificate, key: key) { return (certificate, key, false) }
        // Cut between the renames: the half still beside the pair goes in place.
        if let newCertificate, matches(certificate: newCertificate, key: key) {
            if let failure = move(nextCertificate, to: directory.tlsCertificatePath) { throw unmatched(directory, retry: failure) }
            return (newCertificate, key, false)
        }
        if let newKey, matches(certificate: certificate, key: newKey) {
            if let failure = move(nextKey, to: directory.tlsKeyPath) { throw unmatched(directory, retry: failure) }
            return (certificate, newKey, false)
        }
        throw unmatched(directory, retry: nil)
    }

    /// `retry`: the errno of a rename that failed, its file kept beside the pair: the next
    /// renewal or start tries again.
    private static func unmatched(_ directory: DataDirectory, retry failure: Int32?) -> FerryError {
        guard let failure else {
            return FerryError(
                .configuration,
                "this node's TLS certificate and key in \(directory.path) do not match and cannot be completed: remove node.json (its store is kept) and join again")
        }
        return FerryError(
            .configuration,
            "this node's new TLS certificate or key cannot be put in place in \(directory.path) (\(String(cString: strerror(failure)))); it is tried again at the next renewal or start: check the file system")
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
