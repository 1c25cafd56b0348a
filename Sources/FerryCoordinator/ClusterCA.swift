import Crypto
import FerryCore
import FerryMesh
import Foundation
import SwiftASN1
import X509

/// The cluster's certificate authority, made by the leader on its first start: it issues the
/// leader's TLS certificate and one for every follower that joins. Its key never leaves the
/// leader's data directory (`ca-key.pem`, 0600).
struct ClusterCA: Sendable {
    let certificatePEM: String
    private let certificate: Certificate
    private let key: P256.Signing.PrivateKey

    /// sha256 of the CA certificate's DER: what join tokens carry.
    let fingerprint: String

    static let lifetime: TimeInterval = 10 * 365 * 24 * 3600
    /// The leader's own certificate (reissued at start once a third of it is left).
    static let leafLifetime: TimeInterval = 5 * 365 * 24 * 3600
    /// How long before the CA expires the leader warns (log and `ferry nodes`).
    static let expiryWarning: TimeInterval = 365 * 24 * 3600

    /// When the CA certificate expires: the whole cluster must be joined to a new CA before then.
    var expiresAt: Date { certificate.notValidAfter }

    /// The certificate `proof` shows its sender holds, if this CA issued it and it is valid at
    /// `now`, for the renewal for `newPublicKey`.
    func verified(_ proof: PossessionProof, newPublicKey: String, now: Date = Date()) -> PresentedCertificate? {
        proof.verified(issuedBy: certificate, newPublicKey: newPublicKey, now: now)
    }

    /// Loads the CA of `directory`, or creates it.
    static func loadOrCreate(in directory: DataDirectory) throws(FerryError) -> ClusterCA {
        let certificatePath = directory.caCertificatePath
        let keyPath = directory.caKeyPath
        do {
            if let existing = try existingPair(in: directory.path) {
                return try ClusterCA(certificatePEM: existing.certificatePEM, key: existing.key)
            }
            let key = P256.Signing.PrivateKey()
            let name = try DistinguishedName {
                OrganizationName("Ferry")
                CommonName("Ferry cluster CA \(DataDirectory.randomToken().prefix(8))")
            }
            let now = Date()
            let certificate = try Certificate(
                version: .v3, serialNumber: .init(), publicKey: .init(key.publicKey),
                notValidBefore: now.addingTimeInterval(-3600), notValidAfter: now.addingTimeInterval(lifetime),
                issuer: name, subject: name, signatureAlgorithm: .ecdsaWithSHA256,
                extensions: try Certificate.Extensions {
                    Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                    Critical(KeyUsage(keyCertSign: true, cRLSign: true))
                    SubjectKeyIdentifier(hash: .init(key.publicKey))
                },
                issuerPrivateKey: .init(key))
            let pem = try certificate.serializeAsPEM().pemString
            try directory.writeAtomically(key.pemRepresentation + "\n", to: keyPath, mode: 0o600)
            try directory.writeAtomically(pem + "\n", to: certificatePath, mode: 0o600)
            return try ClusterCA(certificatePEM: pem, key: key)
        } catch let error as FerryError {
            throw error
        } catch {
            throw FerryError(.configuration, "cannot create or read the cluster CA in \(directory.path): \(error)")
        }
    }

    /// A certificate of `successor`'s name and key issued by this CA (a CA certificate): the proof,
    /// to nodes that trust this CA, that `successor` is the cluster's next CA (``vouches(_:for:)``).
    func vouch(for successor: ClusterCA) throws -> String {
        let now = Date()
        let certificate = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: successor.certificate.publicKey,
            notValidBefore: now.addingTimeInterval(-3600), notValidAfter: min(successor.expiresAt, expiresAt),
            issuer: self.certificate.subject, subject: successor.certificate.subject, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                Critical(KeyUsage(keyCertSign: true, cRLSign: true))
            },
            issuerPrivateKey: .init(key))
        return try certificate.serializeAsPEM().pemString
    }

    /// Whether `chain` (what a server presented) holds a certificate, issued by the CA `heldPEM`
    /// and valid now, for the name and key of the CA `successorPEM`: the held CA vouches for the
    /// successor (``vouch(for:)``). A node moves to a new CA only so: a server presenting another
    /// CA (an old one whose key leaked, say) cannot make it move.
    static func vouches(_ heldPEM: String, for successorPEM: String, in chain: [Certificate], now: Date = Date()) -> Bool {
        guard let held = try? Certificate(pemEncoded: heldPEM), let successor = try? Certificate(pemEncoded: successorPEM) else { return false }
        return chain.contains { candidate in
            guard case .isCertificateAuthority = (try? candidate.extensions.basicConstraints) ?? .notCertificateAuthority else { return false }
            return candidate.issuer == held.subject && candidate.subject == successor.subject && candidate.publicKey == successor.publicKey
                && candidate.notValidBefore <= now && now <= candidate.notValidAfter
                && held.publicKey.isValidSignature(candidate.signature, for: candidate)
        }
    }

    /// Whether `pem` is a certificate of this CA's name and key (``vouch(for:)`` by its predecessor).
    func isVouchedFor(by pem: String) -> Bool {
        (try? Certificate(pemEncoded: pem)).map { $0.subject == certificate.subject && $0.publicKey == certificate.publicKey } ?? false
    }

    /// Whether this CA issued the certificate `pem` (its issuer is this CA's name, which is
    /// unique per CA): the leader's own certificate from before a new CA is not.
    func issued(_ pem: String) -> Bool {
        (try? Certificate(pemEncoded: pem).issuer) == certificate.subject
    }

    /// The CA pair in the data directory at `path`, read only, or nil when neither file is there.
    /// Half a CA (`ca.pem` without `ca-key.pem` or the reverse), a file that cannot be read and a
    /// pair from two clusters are refused: a new CA beside either would cut off every node, so the
    /// pair is restored, never remade.
    static func existingPair(in path: String) throws(FerryError) -> (certificatePEM: String, key: P256.Signing.PrivateKey)? {
        // Each file read once; one that is there but cannot be read is a refusal, not "neither".
        func read(_ name: String) throws(FerryError) -> String? {
            guard DataDirectoryRole.exists("\(path)/\(name)") else { return nil }
            guard let text = try? String(contentsOfFile: "\(path)/\(name)", encoding: .utf8) else {
                throw FerryError(
                    .configuration,
                    "cannot read the cluster CA's \(name) in \(path) (a link to nothing, or no permission): make it readable, or restore it from a backup; a new CA would cut off every node")
            }
            return text
        }
        switch (try read("ca.pem"), try read("ca-key.pem")) {
        case (nil, nil):
            return nil
        case (let pem?, let keyPEM?):
            let key: P256.Signing.PrivateKey
            let matches: Bool
            do {
                key = try P256.Signing.PrivateKey(pemRepresentation: keyPEM)
                matches = try Certificate(pemEncoded: pem).publicKey == Certificate.PublicKey(key.publicKey)
            } catch {
                throw FerryError(
                    .configuration,
                    "cannot read the cluster CA in \(path): ca.pem or ca-key.pem is not a PEM certificate and key; restore both from a backup (`ferry leader restore`)")
            }
            guard matches else {
                throw FerryError(
                    .configuration,
                    "the cluster CA in \(path) does not match its key (ca.pem and ca-key.pem are from different clusters): restore both from a backup (`ferry leader restore`)")
            }
            return (pem, key)
        case (let pem, _):
            let missing = pem == nil ? "ca.pem" : "ca-key.pem"
            throw FerryError(
                .configuration,
                "the cluster CA in \(path) is incomplete (\(missing) is missing or unreadable): restore the data directory from a backup (`ferry leader restore`); a new CA would cut off every node (a leader that never finished its first start, no node joined: delete the directory)")
        }
    }

    init(certificatePEM: String, key: P256.Signing.PrivateKey) throws {
        self.certificatePEM = certificatePEM
        self.certificate = try Certificate(pemEncoded: certificatePEM)
        self.key = key
        self.fingerprint = try MeshTLS.fingerprint(ofPEM: certificatePEM)
    }

    /// What a certificate is for: the leader's server certificate, or a node's (server and client).
    enum Role: Sendable, Hashable {
        /// The leader: ``NodeAddress/leaderName`` and `names` (host names, listen address, `--tls-name`, localhost).
        case leader(names: [String])
        /// Node `name`, reached at `address` (checked by the leader): only those two names (DNS only).
        case node(name: String, address: NodeAddress?)
    }

    /// Issues a TLS certificate for `publicKeyPEM` in `role`, valid for `validity` (the leader's
    /// own: ``leafLifetime``).
    func issue(publicKeyPEM: String, for role: Role, validity: TimeInterval = leafLifetime) throws(FerryError) -> String {
        let publicKey: Certificate.PublicKey
        do {
            publicKey = try Certificate.PublicKey(pemEncoded: publicKeyPEM)
        } catch {
            throw FerryError(.invalidArgument, "the node's public key is not a valid PEM public key")
        }
        do {
            return try issue(publicKey: publicKey, for: role, validity: validity)
        } catch let error as FerryError {
            throw error
        } catch {
            throw FerryError(.internal, "cannot issue a TLS certificate: \(error)")
        }
    }

    /// Issues a certificate: the leader's names ``NodeAddress/leaderName``, for server use; a
    /// node's names only the node and its checked address host if that is a DNS name — never the
    /// leader's name, localhost or any IP address — for server and client use on the mesh.
    func issue(publicKey: Certificate.PublicKey, for role: Role, validity: TimeInterval = leafLifetime) throws -> String {
        let names: [String]
        let subject: DistinguishedName
        let usages: [ExtendedKeyUsage.Usage]
        switch role {
        case .leader(let given):
            names = [NodeAddress.leaderName] + given + ["localhost", "127.0.0.1", "::1"]
            subject = try DistinguishedName {
                OrganizationName("Ferry")
                CommonName("ferry leader")
            }
            usages = [.serverAuth]
        case .node(let name, let address):
            names = [name] + (address.flatMap { $0.isIPLiteral ? nil : [$0.host] } ?? [])
            guard !names.contains(where: { $0.lowercased() == NodeAddress.leaderName || $0.lowercased().hasSuffix(".ferry.invalid") }) else {
                throw FerryError(.invalidArgument, "the name '\(NodeAddress.leaderName)' is reserved for the leader")
            }
            subject = try MeshTLS.nodeSubject(name)
            usages = [.serverAuth, .clientAuth]
        }
        var alternatives: [GeneralName] = []
        for name in Set(names).sorted() {
            if case .node = role {
                // DNS names only (the node's name is one, whatever it looks like): TLS clients
                // (NIOSSL) match an IP address in a certificate against the address they connected
                // to, whatever name they asked for, so a node holding the leader's IP would pass
                // for the leader. An IP address host is left out.
                if !name.isEmpty { alternatives.append(.dnsName(name)) }
            } else if let bytes = Self.ipBytes(name) {
                alternatives.append(.ipAddress(ASN1OctetString(contentBytes: ArraySlice(bytes))))
            } else if !name.isEmpty {
                alternatives.append(.dnsName(name))
            }
        }
        let now = Date()
        let certificate = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: publicKey,
            // Back-dated for clocks a little behind: an hour, a tenth of a short validity (tests).
            notValidBefore: now.addingTimeInterval(-min(3600, validity / 10)), notValidAfter: now.addingTimeInterval(validity),
            issuer: self.certificate.subject,
            subject: subject,
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true))
                try ExtendedKeyUsage(usages)
                SubjectAlternativeNames(alternatives)
            },
            issuerPrivateKey: .init(key))
        return try certificate.serializeAsPEM().pemString
    }

    /// The 4 or 16 bytes of an IPv4 or IPv6 literal, or nil for a host name.
    static func ipBytes(_ text: String) -> [UInt8]? {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 { return withUnsafeBytes(of: &v4) { Array($0) } }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 { return withUnsafeBytes(of: &v6) { Array($0) } }
        return nil
    }
}

extension DataDirectory {
    var caCertificatePath: String { "\(path)/ca.pem" }
    var caKeyPath: String { "\(path)/ca-key.pem" }
    /// The current CA certified by the one `ferry leader new-ca` replaced (``ClusterCA/vouch(for:)``):
    /// the leader presents it, so that nodes of the old CA can tell the new one is the same cluster's.
    var caVouchPath: String { "\(path)/ca-vouch.pem" }
    var tlsCertificatePath: String { "\(path)/tls.pem" }
    var tlsKeyPath: String { "\(path)/tls-key.pem" }

    /// The node's TLS key and certificate, made and issued once — again when `isCurrent` says
    /// the certificate on disk is out of date (a leader's from before it named ``NodeAddress/leaderName``).
    func tlsIdentity(isCurrent: (String) -> Bool = { _ in true }, make: (String) throws -> String) throws(FerryError) -> (certificate: String, key: String) {
        if let certificate = try? String(contentsOfFile: tlsCertificatePath, encoding: .utf8),
            let key = try? String(contentsOfFile: tlsKeyPath, encoding: .utf8), isCurrent(certificate)
        {
            return (certificate, key)
        }
        let key = P256.Signing.PrivateKey()
        let certificate: String
        do {
            certificate = try make(key.publicKey.pemRepresentation)
        } catch let error as FerryError {
            throw error
        } catch {
            throw FerryError(.configuration, "cannot make the node's TLS certificate: \(error)")
        }
        try writeAtomically(key.pemRepresentation + "\n", to: tlsKeyPath, mode: 0o600)
        try writeAtomically(certificate + "\n", to: tlsCertificatePath, mode: 0o600)
        return (certificate, key.pemRepresentation)
    }
}
