import FerryCore
import FerryMesh

/// Asks the leader where to fetch blobs from, coalescing the requests made while one is in
/// flight into the next one (``MeshAPI/sourceBatch``): with many small blobs starting at once,
/// one request carries the questions of many instead of one each. The first request goes out
/// at once, so nothing waits to be batched.
///
/// A blob that only the leader is about to receive is answered ``SourceAnswer/Outcome/askAlone``:
/// that caller asks alone (``MeshAPI/sources``), which waits for the leader's first byte without
/// holding up the others.
actor SourceBatcher {
    private let batch: @Sendable (SourceBatch) async throws -> [SourceAnswer]
    private let alone: @Sendable (SourceRequest) async throws -> SourceList
    private var pending: [(request: SourceRequest, reply: CheckedContinuation<SourceAnswer.Outcome, any Error>)] = []
    private var sending = false
    /// Requests sent in batches, and batches sent, since the start (for tests and logs).
    private(set) var requestsSent = 0
    private(set) var batchesSent = 0
    /// Requests waiting for the next batch (for tests).
    var pendingCount: Int { pending.count }

    init(
        batch: @escaping @Sendable (SourceBatch) async throws -> [SourceAnswer],
        alone: @escaping @Sendable (SourceRequest) async throws -> SourceList
    ) {
        self.batch = batch
        self.alone = alone
    }

    /// Where to fetch `request`'s blob from, best first (empty when nothing can serve it yet).
    func sources(_ request: SourceRequest) async throws -> SourceList {
        let outcome = try await withCheckedThrowingContinuation { reply in
            pending.append((request, reply))
            if !sending {
                sending = true
                Task { await self.drain() }
            }
        }
        switch outcome {
        case .sources(let list): return list
        case .refused(let error): throw error
        case .askAlone: return try await alone(request)
        }
    }

    /// Sends what is pending, batch after batch, until nothing is.
    private func drain() async {
        while !pending.isEmpty {
            let taken = Array(pending.prefix(MeshAPI.maxSourceBatch))
            pending.removeFirst(taken.count)
            requestsSent += taken.count
            batchesSent += 1
            do {
                let answers = try await batch(SourceBatch(requests: taken.map(\.request)))
                for (waiting, answer) in zip(taken, answers) {
                    do {
                        waiting.reply.resume(returning: try answer.outcome)
                    } catch {
                        waiting.reply.resume(throwing: error)
                    }
                }
                // A short answer (the client checks the count): nobody is left waiting.
                for waiting in taken.dropFirst(answers.count) {
                    waiting.reply.resume(throwing: FerryError(.upstreamError, "the leader sent no answer for this sources request"))
                }
            } catch {
                for waiting in taken { waiting.reply.resume(throwing: error) }
            }
        }
        sending = false
    }
}
