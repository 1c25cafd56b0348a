import ArgumentParser
import FerryCoordinator
import FerryCore
import Foundation

struct LeaderNewCACommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "new-ca",
        abstract: "Make a new cluster CA for a stopped leader (--data-dir DIR); every follower then joins again with the new join token.",
        usage: "ferry leader --data-dir <data-dir> new-ca",
        discussion: """
            For a CA near its expiry, or node certificates to be rid of. Stop the leader first. The old CA is kept beside the \
            new one (ca.pem.replaced-STAMP, ca-key.pem.replaced-STAMP); DATA_DIR/join-token gets the new CA's fingerprint \
            with a new secret; every join token made before is revoked. The old CA vouches for the new one (ca-vouch.pem, \
            which the leader presents). Start the leader, then restart each follower with the new join token (FERRY_JOIN_TOKEN \
            or --join-token-file): it joins again under its name, keeping its store. Until then a follower cannot reach the \
            leader. CLI users' copies of ca.pem (--ca, FERRY_CA) need the new one.
            """
    )

    /// `--data-dir` (the leader's data directory) is `ferry leader`'s option.
    @ParentCommand var leader: LeaderCommand

    func run() async throws {
        try await reportingErrors {
            let outcome = try await LeaderNewCA.make(dataDirectory: leader.dataDirectory)
            FileOutput.standardOutput.write(
                """
                made a new cluster CA in \(leader.dataDirectory) (fingerprint \(outcome.fingerprint)); the old one is kept as \(outcome.kept.joined(separator: ", ")); \(outcome.revokedTokens) join token(s) revoked
                start the leader, then restart each follower with the new join token in \(outcome.joinTokenFile): each joins again under its name; give CLI users the new ca.pem

                """)
        }
    }
}
