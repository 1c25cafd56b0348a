import ArgumentParser
import FerryCore
import FerryMesh
import Foundation

/// How a CLI command finds the leader and its admin token: flags, then `FERRY_LEADER` /
/// `FERRY_TOKEN`, then the files a local leader writes in its `--data-dir`. The token is best
/// given as a file or in the environment: a command line is visible to every local user (`ps`).
struct LeaderConnection: ParsableArguments {
    @Option(name: .long, help: "The leader's URL, e.g. https://10.0.0.1:5050 (or FERRY_LEADER).")
    var leader: String?

    @Option(name: .customLong("token-file"), help: "A file holding the admin token (a copy of the leader's DATA_DIR/admin-token).")
    var tokenFile: String?

    @Option(name: .long, help: "The admin token. Discouraged: every local user sees it in `ps`; use --token-file or FERRY_TOKEN.")
    var token: String?

    @Option(name: .customLong("data-dir"), help: "Read the URL, admin token and CA of a leader running with this data directory.")
    var dataDirectory: String?

    @Option(name: .customLong("ca"), help: "The leader's cluster CA certificate, a copy of its DATA_DIR/ca.pem (or FERRY_CA).")
    var caFile: String?

    /// The admin client for the leader these options name.
    func client() throws(FerryError) -> AdminClient {
        let (url, token) = try resolve()
        let environment = ProcessInfo.processInfo.environment
        var ca = caFile ?? environment["FERRY_CA"].flatMap { $0.isEmpty ? nil : $0 }
        if ca == nil, let dataDirectory { ca = Self.caFile(in: dataDirectory) }
        return AdminClient(baseURL: url, token: token, caFile: ca)
    }

    /// The cluster CA a node running with `dataDirectory` keeps (`ca.pem`), if there is one.
    static func caFile(in dataDirectory: String) -> String? {
        let path = "\(dataDirectory)/ca.pem"
        return FileManager.default.fileExists(atPath: path) ? path : nil
    }

    func resolve() throws(FerryError) -> (url: String, token: String) {
        let environment = ProcessInfo.processInfo.environment
        var url = leader ?? environment["FERRY_LEADER"].flatMap { $0.isEmpty ? nil : $0 }
        var source = leader != nil ? "--leader" : "FERRY_LEADER"
        var token = try tokenFile.map { file throws(FerryError) in try Self.readSecret(file, what: "admin token") }
            ?? self.token ?? environment["FERRY_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
        if let dataDirectory {
            if let problem = PathAccess.problem(dataDirectory), problem != PathAccess.missing {
                throw FerryError(.configuration, "cannot use the data directory '\(dataDirectory)': \(problem)")
            }
            if url == nil {
                guard let text = try? String(contentsOfFile: "\(dataDirectory)/address", encoding: .utf8) else {
                    let why = FileManager.default.fileExists(atPath: dataDirectory) ? "no address file" : "no such directory"
                    throw FerryError(.configuration, "no leader is running with data directory '\(dataDirectory)' (\(why)); start `ferry leader` or pass --leader")
                }
                url = text.trimmingWhitespace()
                source = "the leader's address in '\(dataDirectory)/address'"
            }
            if token == nil {
                guard let text = try? String(contentsOfFile: "\(dataDirectory)/admin-token", encoding: .utf8) else {
                    throw FerryError(.configuration, "cannot read '\(dataDirectory)/admin-token'; run as the user that runs the leader, or pass --token-file")
                }
                token = text.trimmingWhitespace()
            }
        }
        guard let url, !url.isEmpty else {
            throw FerryError(.configuration, "no leader given: pass --leader URL (or set FERRY_LEADER), or --data-dir of a local leader")
        }
        guard let token, !token.isEmpty else {
            throw FerryError(.configuration, "no admin token given: pass --token-file FILE (or set FERRY_TOKEN), or --data-dir of a local leader")
        }
        return (try AdminURL.leader(url, source: source), token)
    }

    /// The first line of a secret file, trimmed; one clear line when it cannot be read or is empty.
    /// `warn`: write ``PathAccess/openSecretNotice(_:what:)`` to stderr (the CLI); a daemon logs it itself
    /// once its logging is set up.
    static func readSecret(_ file: String, what: String, warn: Bool = true) throws(FerryError) -> String {
        guard let text = try? String(contentsOfFile: file, encoding: .utf8) else {
            throw FerryError(.configuration, "cannot read the \(what) file '\(file)'")
        }
        let secret = text.trimmingWhitespace()
        guard !secret.isEmpty else { throw FerryError(.configuration, "the \(what) file '\(file)' is empty") }
        if warn, let warning = PathAccess.openSecretNotice(file, what: what) { FileOutput.standardError.write("ferry: warning: \(warning)\n") }
        return secret
    }
}
