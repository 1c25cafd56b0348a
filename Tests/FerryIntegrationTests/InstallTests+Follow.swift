import FerryCore
import FerryMesh
import FerryTestSupport
import Foundation
import Testing

extension InstallTests {
    /// docs/http-api.md: `GET /admin/v1/installs/ID?known=KEY&wait=SECONDS` answers once the
    /// install's states differ from `KEY`, else when the wait is over; what `ferry install` and
    /// `ferry status --follow` use, so that they see an install end at once.
    @Test("An install's long poll answers at a change of state, waits while nothing changes, and refuses a bad wait")
    func installLongPoll() async throws {
        try await TestCluster.with("ipoll", nodes: ["n1"]) { cluster in
            let reference = try await cluster.push("demo/app:1", layers: [.init("ip1", "1M")])
            let accepted = try await cluster.admin.install(InstallRequest(images: [reference]))
            // Each answer comes at a change (or at the end of a long wait): follow it to the end.
            var status = accepted
            var answers = 0
            let started = ContinuousClock.now
            while !status.isFinished, answers < 50 {
                status = try await cluster.admin.install(id: accepted.id, changedFrom: status.stateKey, wait: .seconds(60))
                answers += 1
            }
            #expect(status.state == .done)
            #expect(ContinuousClock.now - started < .seconds(50), "the end of the install was answered at once, not at the end of a 60 s wait")

            // Nothing changes any more: the poll waits for its whole wait.
            let waited = ContinuousClock.now
            let same = try await cluster.admin.install(id: accepted.id, changedFrom: status.stateKey, wait: .seconds(2))
            #expect(ContinuousClock.now - waited >= .milliseconds(1900))
            #expect(same.stateKey == status.stateKey)
            // A key that is not the install's: answered at once.
            let stale = ContinuousClock.now
            #expect(try await cluster.admin.install(id: accepted.id, changedFrom: "0000000000000000", wait: .seconds(60)).state == .done)
            #expect(ContinuousClock.now - stale < .seconds(30))

            // Past the longest wait: clamped to it (a number this large once stopped the leader).
            let huge = try await RawHTTPConnection.exchange(
                url: cluster.leader.url, caFile: cluster.leader.caFile,
                RawHTTP.request("GET", "\(AdminAPI.install(id: accepted.id))?known=x&wait=1e300", fields: [RawHTTP.bearer(cluster.leader.token)]))
            #expect(huge?.status == 200, "\(huge?.statusLine ?? "no answer")")
            for wait in ["soon", "-1", "nan", "inf"] {
                let answer = try await RawHTTPConnection.exchange(
                    url: cluster.leader.url, caFile: cluster.leader.caFile,
                    RawHTTP.request("GET", "\(AdminAPI.install(id: accepted.id))?known=x&wait=\(wait)", fields: [RawHTTP.bearer(cluster.leader.token)]))
                #expect(answer?.status == 400 && answer?.errorCodes == ["INVALID_ARGUMENT"], "wait=\(wait): \(answer?.statusLine ?? "no answer")")
            }
            // An unknown install: 404 at once, whatever the wait.
            await #expect(throws: FerryError.self) {
                _ = try await cluster.admin.install(id: 99, changedFrom: "x", wait: .seconds(30))
            }
        }
    }
}

extension InstallTests {
    @Test("Ctrl-C on a following `ferry install` says the install goes on and how to follow it again, exit 130; the install is not cancelled")
    func interruptedFollowSaysTheInstallGoesOn() async throws {
        try await TestCluster.with("detach", nodes: ["n1"], leaderArguments: ["--upstream-rate", "1MiB/s"]) { cluster in
            let reference = try await cluster.push("demo/detach:1", layers: [.init("det", "4M")], busybox: false)
            let log = cluster.dir.sub("install.log")
            let process = try BackgroundProcess.spawn(
                RepositoryLayout.ferryBinary, ["install", reference], logPath: log,
                environment: ["FERRY_LEADER": cluster.leader.url, "FERRY_TOKEN": cluster.leader.token, "FERRY_CA": cluster.leader.caFile])
            // Following: the install exists and the command has shown its progress.
            try await waitUntil("the install followed") {
                (try? await cluster.admin.install(id: 1)) != nil && !process.log.isEmpty
            }
            try await Task.sleep(for: .milliseconds(300))
            process.signal(SIGINT)
            let status = await process.wait()
            #expect(status == 130, "exit status \(status)")
            #expect(process.log.contains("ferry: stopped following: install 1 goes on on the leader; `ferry status 1 --follow` follows it again"), "\(process.log)")
            let install = try await cluster.admin.install(id: 1)
            #expect(install.state == .running || install.isFinished, "\(install.state)")
            #expect(install.targets.allSatisfy { $0.error?.message.contains("cancel") != true }, "\(install.targets)")
        }
    }
}
