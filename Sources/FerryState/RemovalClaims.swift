import FerryCore
import Synchronization

/// The blobs a collection claimed for removal inside its transaction, in order: unlinked after the
/// commit, or released if the transaction fails.
final class RemovalClaims: Sendable {
    private let blobs = Mutex<[GarbageCollection.Blob]>([])

    func add(_ blob: GarbageCollection.Blob) {
        blobs.withLock { $0.append(blob) }
    }

    var taken: [GarbageCollection.Blob] { blobs.withLock { $0 } }
}
