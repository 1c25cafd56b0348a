import FerryCore
import FerryTestSupport
import Foundation
import Testing

extension CLITests {
    @Test("ferry rollout: out-of-range options get a one-line error naming the option, before anything is sent", arguments: [
        (["--max-failure-ratio", "1.5"], "--max-failure-ratio"),
        (["--max-failure-ratio", "lots"], "--max-failure-ratio"),
        (["--healthy-deadline", "25h"], "--healthy-deadline"),
        (["--healthy-deadline", "0s"], "--healthy-deadline must be more than 0s (got 0 ms)"),
        (["--distribute-deadline", "0s"], "--distribute-deadline"),
        (["--delay", "1e3"], "--delay"),
        (["--min-healthy=-3s"], "--min-healthy"),
        (["--delay", "5 parsecs"], "--delay"),
        (["--canary-wait", "soon"], "--canary-wait"),
        (["--max-parallel", "0"], "--max-parallel"),
        (["--canary=-1"], "--canary"),
        (["--canary", "-1"], "--canary must be 0 or more"),
        (["--delay", "-5s"], "--delay: '-5s' is not a duration"),
        (["--nodes", ""], "--nodes needs node names"),
        (["--nodes", "node1,node1"], "--nodes names 'node1' twice"),
        (["--order", "sideways"], "--order"),
        (["--on-failure", "explode"], "--on-failure"),
    ])
    func rolloutBadOptions(options: [String], message: String) async throws {
        // The leader's port is closed: an error about it would mean the check ran too late.
        let result = try await ferry(["rollout", "--leader", "http://127.0.0.1:9", "--token", "t", "registry.test/app:1.1"] + options)
        Self.expectOneLineError(result, containing: message)
    }

    @Test("ferry rollout status, pause and rollback of an unknown rollout ID: one line, non-zero; a rollout with no node joined is refused")
    func rolloutUnknownID() async throws {
        try await withTemporaryDirectory("cli-rollout") { dir in
            let leader = try await LeaderProcess.start(dataDirectory: dir.sub("leader"))
            defer { Task { await leader.process.stop() } }
            for arguments in [["status", "r000000000000"], ["pause", "r000000000000"], ["rollback", "r000000000000"], ["resume", "../x"]] {
                Self.expectOneLineError(
                    try await ferry(["rollout"] + arguments + ["--data-dir", leader.dataDirectory]), containing: "no rollout with ID")
            }
            Self.expectOneLineError(
                try await ferry(["rollout", "registry.test/app:1.1", "--data-dir", leader.dataDirectory]), containing: "no node has joined yet")
            Self.expectOneLineError(
                try await ferry(["rollout", "status", "--follow", "--data-dir", leader.dataDirectory]), containing: "--follow needs a rollout ID")
            let list = try await ferry(["rollout", "status", "--data-dir", leader.dataDirectory])
            #expect(list.status == 0 && list.stdout.hasPrefix("ROLLOUT"), "\(list.stderr)")
            await leader.process.stop()
        }
    }
}
