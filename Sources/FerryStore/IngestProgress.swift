import FerryConcurrency
import FerryCore
import Synchronization

/// How far an ingest has come, for readers that serve a blob while it is still arriving
/// (cut-through). Bytes up to ``State/durable`` are in the partial file and may be read.
public final class IngestProgress: Sendable {
    public enum Status: Sendable, Hashable {
        /// Still receiving.
        case active
        /// Verified and in `blobs/`: every byte is there.
        case committed
        /// Closed without a commit (bad bytes, or the writer gave up): readers must stop.
        case closed
    }

    public struct State: Sendable, Hashable {
        /// Bytes written to the partial file.
        public var durable: Int64
        public var status: Status
        /// Bumped when the ingest starts over from zero: bytes read before are not the blob's.
        public var epoch: Int
        /// Every byte is in the partial file and matched the size and digest (``BlobIngest/verify()``);
        /// the commit (fsync, rename) may still be under way.
        public var verified = false
    }

    public let digest: Digest
    public let expectedSize: Int64
    private let state: Mutex<State>
    /// Notified on every change.
    public let signal = ChangeSignal()

    init(digest: Digest, expectedSize: Int64, durable: Int64) {
        self.digest = digest
        self.expectedSize = expectedSize
        self.state = Mutex(State(durable: durable, status: .active, epoch: 0))
    }

    public var snapshot: State { state.withLock { $0 } }

    func wrote(upTo durable: Int64) {
        state.withLock { $0.durable = durable }
        signal.notify()
    }

    func verified() {
        state.withLock { $0.verified = true }
        signal.notify()
    }

    func restarted() {
        state.withLock {
            $0.durable = 0
            $0.epoch += 1
        }
        signal.notify()
    }

    func finished(_ status: Status) {
        state.withLock { $0.status = status }
        signal.notify()
    }
}
