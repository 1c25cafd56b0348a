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
    private typealias Reply = CheckedContinuation<SourceAnswer.Outcome, any Error>
    /// Questions waiting for the next batch, and those in the batch in flight, by ID: each
    /// caller's reply is resumed once, by whichever comes first, its answer or its cancellation.
    private var pending: [(id: Int, request: SourceRequest)] = []
    private var replies: [Int: Reply] = [:]
    private var nextID = 0
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
    /// A cancelled caller stops waiting at once, whether its question was sent or not.
    func sources(_ request: SourceRequest) async throws -> SourceList {
        let id = nextID
        nextID += 1
        let outcome = try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (reply: Reply) in
                guard !Task.isCancelled else { return reply.resume(throwing: CancellationError()) }
                pending.append((id, request))
                replies[id] = reply
                if !sending {
                    sending = true
                    Task { await self.drain() }
                }
            }
        } onCancel: {
            Task { await self.cancel(id) }
        }
        switch outcome {
        case .sources(let list): return list
        case .refused(let error): throw error
        case .askAlone: return try await alone(request)
        }
    }

    private func cancel(_ id: Int) {
        pending.removeAll { $0.id == id }
        replies.removeValue(forKey: id)?.resume(throwing: CancellationError())
    }

    private func reply(_ id: Int, _ result: Result<SourceAnswer.Outcome, any Error>) {
        replies.removeValue(forKey: id)?.resume(with: result)
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
                for (question, answer) in zip(taken, answers) {
                    reply(question.id, Result { try answer.outcome })
                }
                // A short answer (the client checks the count): nobody is left waiting.
                for question in taken.dropFirst(answers.count) {
                    reply(question.id, .failure(FerryError(.upstreamError, "the leader sent no answer for this sources request")))
                }
            } catch {
                for question in taken { reply(question.id, .failure(error)) }
            }
        }
        sending = false
    }
}
