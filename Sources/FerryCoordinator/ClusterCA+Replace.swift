import FerryCore
import Foundation

extension ClusterCA {
    /// Makes a new cluster CA in `directory` (`ferry leader new-ca`, the leader stopped): the old
    /// pair is kept beside it as `ca.pem.replaced-STAMP` and `ca-key.pem.replaced-STAMP`, the join
    /// token file gets the new fingerprint (same secret), and at its next start the leader issues
    /// itself a certificate under the new CA. Every node joins again with the new join token,
    /// keeping its name (its follower does so at start: ``FollowerService/join()``); until then
    /// it cannot reach the leader. A directory whose CA was already moved away (a new-ca stopped
    /// half-way) gets its new CA all the same. Returns the new CA and where the old one went.
    static func replace(in directory: DataDirectory, now: Date = Date()) throws(FerryError) -> (ca: ClusterCA, kept: [String]) {
        _ = try existingPair(in: directory.path)
        // UTC (the ISO 8601 style's default time zone), e.g. 20270115T080000Z.
        let stamp = now.formatted(.iso8601.year().month().day().dateSeparator(.omitted).time(includingFractionalSeconds: false).timeSeparator(.omitted)) + "Z"
        var kept: [String] = []
        for path in [directory.caCertificatePath, directory.caKeyPath] where DataDirectoryRole.exists(path) {
            let old = "\(path).replaced-\(stamp)"
            guard rename(path, old) == 0 else {
                throw FerryError(.configuration, "cannot move \(path) aside: \(String(cString: strerror(errno)))")
            }
            kept.append(old)
        }
        let ca = try loadOrCreate(in: directory)
        _ = try directory.joinToken(fingerprint: ca.fingerprint)
        return (ca, kept)
    }
}
