import FerryCore
import FerryMesh
import FerryPolicy

/// What a ``TargetRunner`` says to the leader about its target: state reports and load-slot
/// requests. A leader that is away is waited out; a leader answering that the target is over
/// (finished elsewhere, failed by a deadline, reassigned) ends the runner with ``TargetSuperseded``.
struct TargetReporter<Environment: TargetEnvironment>: Sendable {
    let environment: Environment
    let targetID: Int64
    /// How long one load-slot request waits at the leader.
    var loadSlotWait: Duration = .seconds(20)

    /// Backoff between attempts of a report: 0.2 s doubling to 5 s, until the leader answers.
    static var retry: RetryPolicy { RetryPolicy(maxAttempts: .max, baseDelay: .milliseconds(200), maxDelay: .seconds(5)) }

    /// Sends a report, waiting out a leader that is away (a progress report is dropped instead:
    /// the next one will do).
    func report(_ report: TargetReport) async throws {
        var attempt = 0
        while true {
            do {
                try await superseding { try await environment.report(target: targetID, report) }
                return
            } catch let error as FerryError where error.code == .upstreamUnreachable || error.code == .upstreamError {
                if report.state == .transferring && report.bytesDone != 0 { return }
                try Task.checkCancellation()
                attempt += 1
                try await Task.sleep(for: Self.retry.delay(beforeRetry: min(attempt, 8), random: Double.random(in: 0...1)) ?? .seconds(5))
            }
        }
    }

    /// Asks for a load slot until the leader grants one.
    func waitForLoadSlot() async throws {
        while !(try await superseding { try await environment.requestLoad(target: targetID, wait: loadSlotWait) }) {
            try Task.checkCancellation()
        }
    }

    /// `body`, with the leader's "conflict" or "not found" turned into ``TargetSuperseded``.
    private func superseding<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as FerryError where error.code == .conflict || error.code == .notFound {
            throw TargetSuperseded()
        }
    }
}
