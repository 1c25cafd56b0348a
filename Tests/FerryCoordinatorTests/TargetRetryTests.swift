import FerryCore
import GRDB
import Testing

@testable import FerryCoordinator

/// ``TargetRetry``: what a node does after a failed attempt at a target.
@Suite("TargetRetry")
struct TargetRetryTests {
    @Test("the node's own database refusing for a full disk fails the target with INSUFFICIENT_SPACE, not SQLite's raw text")
    func fullDiskOfTheNode() {
        var retry = TargetRetry()
        let action = retry.failed(DatabaseError(resultCode: .SQLITE_FULL, message: "database or disk is full"), random: 0.5)
        guard case .fail(let error) = action else {
            Issue.record("expected a failure, got \(action)")
            return
        }
        #expect(error.code == .insufficientSpace && error.message.contains("disk holding the data directory is full"), "\(error.message)")
        #expect(retry.failed(CancellationError(), random: 0.5) == .stop)
        #expect(retry.failed(TargetSuperseded(), random: 0.5) == .stop)
    }
}
