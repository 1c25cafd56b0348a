import Crypto
import FerryCore
import Foundation
import SwiftASN1
import X509

extension ClusterCA {
    /// Makes a new cluster CA in `directory` (`ferry leader new-ca`, the leader stopped): the old
    /// pair is kept beside it as `ca.pem.replaced-STAMP` and `ca-key.pem.replaced-STAMP`, the old
    /// CA vouches for the new one (`ca-vouch.pem`, which the leader presents: ``vouch(for:)``), the
    /// join token file gets a new secret under the new fingerprint, and at its next start the
    /// leader issues itself a certificate under the new CA. Each node joins again with the new
    /// join token, keeping its name (its follower does so at start when its CA vouches for the
    /// leader's: ``FollowerService/join()``); until then it cannot reach the leader. A new-ca
    /// stopped half-way (the old pair partly moved aside, or the new one half written) is
    /// finished by running it again. Returns the new CA and where the old one went.
    static func replace(in directory: DataDirectory, now: Date = Date()) throws(FerryError) -> (ca: ClusterCA, kept: [String]) {
        var old: ClusterCA
        var kept: [String] = []
        do {
            if let pair = try existingPair(in: directory.path) {
                old = try ClusterCA(certificatePEM: pair.certificatePEM, key: pair.key)
                // A new pair no earlier CA vouches for yet, beside a kept one: a new-ca that
                // stopped after making it. Finished, not rotated again (no node holds that pair).
                if let unfinished = try unfinishedReplacement(of: old, in: directory) {
                    try finish(unfinished.old, vouchingFor: old, in: directory)
                    return (old, unfinished.kept)
                }
            } else if let resumed = try resumeReplacement(in: directory) {
                (old, kept) = resumed
            } else {
                throw FerryError(.configuration, "\(directory.path) holds no cluster CA to replace: start the leader once to make one")
            }
        } catch let error as FerryError {
            guard let resumed = try resumeReplacement(in: directory) else { throw error }
            (old, kept) = resumed
        } catch {
            throw FerryError(.configuration, "cannot read the cluster CA in \(directory.path): \(error)")
        }
        if kept.isEmpty {
            // UTC (the ISO 8601 style's default time zone), e.g. 20270115T080000Z; never over an earlier one.
            let base = now.formatted(.iso8601.year().month().day().dateSeparator(.omitted).time(includingFractionalSeconds: false).timeSeparator(.omitted)) + "Z"
            var stamp = base
            var round = 1
            while DataDirectoryRole.exists("\(directory.caCertificatePath).replaced-\(stamp)") || DataDirectoryRole.exists("\(directory.caKeyPath).replaced-\(stamp)") {
                round += 1
                stamp = "\(base)-\(round)"
            }
            for path in [directory.caCertificatePath, directory.caKeyPath] {
                let aside = "\(path).replaced-\(stamp)"
                guard rename(path, aside) == 0 else {
                    throw FerryError(.configuration, "cannot move \(path) aside: \(String(cString: strerror(errno)))")
                }
                kept.append(aside)
            }
        }
        let ca = try loadOrCreate(in: directory)
        try finish(old, vouchingFor: ca, in: directory)
        return (ca, kept)
    }

    /// The last steps of a replacement: `old` vouches for `ca`, and the join token file gets a new
    /// secret (the old one, whose fingerprint anyone can change, stops joining).
    private static func finish(_ old: ClusterCA, vouchingFor ca: ClusterCA, in directory: DataDirectory) throws(FerryError) {
        do {
            try directory.writeAtomically(try old.vouch(for: ca) + "\n", to: directory.caVouchPath, mode: 0o600)
        } catch let error as FerryError {
            throw error
        } catch {
            throw FerryError(.configuration, "cannot write the old CA's certificate for the new one: \(error)")
        }
        unlink(directory.joinTokenPath)
        _ = try directory.joinToken(fingerprint: ca.fingerprint)
    }

    /// The newest kept pair and its paths, when `current` has no vouch yet (a new-ca stopped
    /// after making it); nil when it has one, or nothing was ever replaced.
    private static func unfinishedReplacement(of current: ClusterCA, in directory: DataDirectory) throws(FerryError) -> (old: ClusterCA, kept: [String])? {
        if let vouch = try? String(contentsOfFile: directory.caVouchPath, encoding: .utf8), current.isVouchedFor(by: vouch) { return nil }
        return newestKeptPair(in: directory)
    }

    /// The newest pair kept aside by a replacement, and its paths.
    private static func newestKeptPair(in directory: DataDirectory) -> (old: ClusterCA, kept: [String])? {
        let (certificates, keys) = keptStamps(in: directory)
        guard let stamp = certificates.intersection(keys).max() else { return nil }
        let kept = ["\(directory.caCertificatePath).replaced-\(stamp)", "\(directory.caKeyPath).replaced-\(stamp)"]
        guard let pem = try? String(contentsOfFile: kept[0], encoding: .utf8),
            let keyPEM = try? String(contentsOfFile: kept[1], encoding: .utf8),
            let key = try? P256.Signing.PrivateKey(pemRepresentation: keyPEM),
            let old = try? ClusterCA(certificatePEM: pem, key: key)
        else { return nil }
        return (old, kept)
    }

    /// The old CA of a replacement stopped half-way, and where it was kept: the newest pair kept
    /// aside, when what is in place is nothing or a lone half of the new pair (moved aside, not
    /// deleted). One stopped between its two moves (the certificate aside, its key in place) is
    /// finished first. A lone half of the live CA (its certificate lost: the key is the one the
    /// last vouch certified) is not taken for a new pair: nil, and the refusal stands.
    private static func resumeReplacement(in directory: DataDirectory) throws(FerryError) -> (ClusterCA, [String])? {
        let (certificates, keys) = keptStamps(in: directory)
        let hasCertificate = DataDirectoryRole.exists(directory.caCertificatePath)
        let hasKey = DataDirectoryRole.exists(directory.caKeyPath)
        if hasCertificate && hasKey { return nil }
        if !hasCertificate, hasKey, let stamp = certificates.subtracting(keys).max() {
            guard rename(directory.caKeyPath, "\(directory.caKeyPath).replaced-\(stamp)") == 0 else {
                throw FerryError(.configuration, "cannot move \(directory.caKeyPath) aside: \(String(cString: strerror(errno)))")
            }
        } else if hasKey || hasCertificate {
            if let vouch = try? Certificate(pemEncoded: (try? String(contentsOfFile: directory.caVouchPath, encoding: .utf8)) ?? ""),
                let lone = try? String(contentsOfFile: hasKey ? directory.caKeyPath : directory.caCertificatePath, encoding: .utf8),
                (hasKey ? (try? P256.Signing.PrivateKey(pemRepresentation: lone)).map { Certificate.PublicKey($0.publicKey) } : (try? Certificate(pemEncoded: lone))?.publicKey)
                    == vouch.publicKey
            {
                return nil
            }
            for path in [directory.caCertificatePath, directory.caKeyPath] where DataDirectoryRole.exists(path) {
                rename(path, "\(path).incomplete-\(UInt64(Date().timeIntervalSince1970))")
            }
        }
        return newestKeptPair(in: directory).map { ($0.old, $0.kept) }
    }

    /// The stamps of the certificates and of the keys kept aside by replacements in `directory`.
    private static func keptStamps(in directory: DataDirectory) -> (certificates: Set<String>, keys: Set<String>) {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        func stamps(_ prefix: String) -> Set<String> { Set(names.filter { $0.hasPrefix(prefix) }.map { String($0.dropFirst(prefix.count)) }) }
        return (stamps("ca.pem.replaced-"), stamps("ca-key.pem.replaced-"))
    }
}
