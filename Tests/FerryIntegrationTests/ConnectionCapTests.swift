import FerryCore
import FerryTestSupport
import Foundation
import Testing

/// `--max-connections-per-client` on a real leader: a client over its cap is closed as soon as it
/// is accepted (before its TLS handshake); the connections it holds, and a new one once it closed one, are
/// served; the refusal is counted. A bad value is refused before anything starts.
@Suite("Connections per client", .timeLimit(.minutes(5)))
struct ConnectionCapTests {
    /// Asks for `/healthz` on a connection that stays open (``RawHTTP/request`` closes by default).
    static func answers(_ connection: RawHTTPConnection) async -> Bool {
        await connection.send(RawHTTP.request("GET", "/healthz", fields: [("Connection", "keep-alive")]))
        return await connection.readResponse(timeout: .seconds(20))?.status == 200
    }

    @Test("the connection over the cap is closed at once; the held ones and a later one are served; ferry_connections_refused_total counts it")
    func overTheCap() async throws {
        try await withTemporaryDirectory("conncap") { dir in
            let leader = try await LeaderProcess.start(dataDirectory: dir.sub("leader"), extraArguments: ["--max-connections-per-client", "3"])
            do {
                var held: [RawHTTPConnection] = []
                for _ in 0..<3 { held.append(try await RawHTTPConnection.connect(url: leader.url, caFile: leader.caFile)) }
                for connection in held { #expect(await Self.answers(connection)) }
                // Plain TCP: the refusal comes before any TLS, so a handshake would only fail.
                let refused = try await RawHTTPConnection.connect(port: leader.port)
                #expect(await refused.closedByPeer(within: .seconds(20)), "the fourth connection is closed")
                #expect(await Self.answers(held[2]), "the held connections are still served")
                held[0].close()
                // Once the leader has seen the close, its place is free again (curl for the
                // metrics needs one too).
                try await waitUntil("a new connection is served") {
                    guard let connection = try? await RawHTTPConnection.connect(url: leader.url, caFile: leader.caFile) else { return false }
                    defer { connection.close() }
                    return await Self.answers(connection)
                }
                for connection in held { connection.close() }
                // curl needs a place too: asked again until the leader has seen the closes.
                var metrics: [String: Double] = [:]
                try await waitUntil("the metrics are read") {
                    metrics = (try? await TestCluster.scrape(leader.url, token: leader.token, ca: leader.caFile)) ?? [:]
                    return !metrics.isEmpty
                }
                #expect((metrics["ferry_connections_refused_total"] ?? 0) >= 1, "\(metrics.filter { $0.key.contains("connections") })")
            } catch {
                await leader.process.stop()
                throw error
            }
            await leader.process.stop()
            #expect(leader.process.log.contains("refused a connection"), "the refusal is logged")
        }
    }

    @Test("a negative --max-connections-per-client is refused in one line, as a flag and as a key")
    func badValues() async throws {
        try await withTemporaryDirectory("conncap-bad") { dir in
            let flag = try await ferry(["leader", "--data-dir", dir.sub("data"), "--max-connections-per-client=-1"], environment: DaemonConfigTests.clean)
            CLITests.expectOneLineError(flag, containing: "--max-connections-per-client")
            let file = dir.sub("leader.toml")
            try "max-connections-per-client = -1\n".write(toFile: file, atomically: true, encoding: .utf8)
            let key = try await ferry(["leader", "--data-dir", dir.sub("data"), "--config", file], environment: DaemonConfigTests.clean)
            CLITests.expectOneLineError(key, containing: file + ":1: key 'max-connections-per-client': expected a whole number of 0 or more")
            #expect(!FileManager.default.fileExists(atPath: dir.sub("data/admin-token")))
        }
    }
}
