import FerryConcurrency
import FerryMesh

/// Sends a follower's blob events (`receiving`, `present`, `gone`, accusations) to the leader,
/// coalescing the events posted while a request is in flight into the next request: with many
/// small blobs arriving at once, one request carries the events of many instead of one each.
///
/// No wire change: `POST /mesh/v1/blobs/events` always took a list. Events reach the leader in
/// the order they were posted; ``post(_:)`` returns once its events were sent (or the send
/// failed: events are advisory and never retried, as before), so a caller that relies on the
/// leader knowing (announce before fetching) still waits for it.
actor BlobEventBatcher {
    /// The most events in one request.
    static let maxBatch = 256

    private let send: @Sendable ([BlobEvent]) async throws -> Void
    private var pending: [BlobEvent] = []
    /// Events posted, and events sent (or given up on), since the start.
    private var posted = 0
    private var settled = 0
    private var sending = false
    private let sent = ChangeSignal()

    init(send: @escaping @Sendable ([BlobEvent]) async throws -> Void) {
        self.send = send
    }

    /// Events posted and not yet in a request (for tests).
    var pendingCount: Int { pending.count }

    /// Sends `events` with whatever else is waiting; returns when they were sent.
    func post(_ events: [BlobEvent]) async {
        guard !events.isEmpty else { return }
        pending += events
        posted += events.count
        let mine = posted
        while settled < mine {
            if sending {
                // Another caller's request is in flight: ours go in the next one.
                guard !Task.isCancelled else { return }
                let generation = sent.generation
                await sent.wait(after: generation, timeout: .seconds(30))
                continue
            }
            sending = true
            let batch = Array(pending.prefix(Self.maxBatch))
            pending.removeFirst(batch.count)
            try? await send(batch)
            settled += batch.count
            sending = false
            sent.notify()
        }
    }
}
