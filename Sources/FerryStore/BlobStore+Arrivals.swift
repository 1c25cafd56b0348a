import FerryConcurrency
import FerryCore

extension BlobStore {
    /// Announces blobs about to arrive in this store under `name` (an install target that is
    /// fetching them): until ``endArrivals(_:)``, ``awaitArrival(of:)`` waits for one of them
    /// that has not started arriving instead of answering that it is absent. Several names may
    /// expect the same blob.
    public func expectArrivals(_ name: String, of blobs: some Sequence<Descriptor>) {
        withUsage { usage in
            for blob in blobs { usage.arrivals[name, default: [:]][blob.digest] = blob.size }
        }
    }

    /// Ends the expected arrivals of `name`; readers waiting only for them give up.
    public func endArrivals(_ name: String) {
        _ = withUsage { $0.arrivals.removeValue(forKey: name) }
        ingestsStarted.notify()
    }

    /// The size of `digest` if it is an expected arrival (see ``expectArrivals(_:of:)``).
    public func expectedSize(of digest: Digest) -> Int64? {
        withUsage { $0.expectedSize(of: digest) }
    }

    /// The blob's ``Availability``, waiting while it is expected (``expectArrivals(_:of:)``) but
    /// has not started arriving: answers when its ingest starts (``Availability/growing(_:)``),
    /// it is committed, or nobody expects it any more (``Availability/absent``). Checked at least
    /// every second, so a missed notification costs at most that.
    public func awaitArrival(of digest: Digest) async throws -> Availability {
        while true {
            let generation = ingestsStarted.generation
            let now = availability(of: digest)
            guard case .absent = now, expectedSize(of: digest) != nil else { return now }
            await ingestsStarted.wait(after: generation, timeout: .seconds(1))
            try Task.checkCancellation()
        }
    }
}
