import FerryCore
import FerryMesh
import FerryServer
import FerryState
import FerryStore

extension LeaderService {
    /// The leader's collector: images, manifests and blobs in its state and store. Retention
    /// keeps what running installs target and what is still being fetched.
    var garbageCollector: GarbageCollector {
        GarbageCollector(
            node: "leader", database: database, store: store, configuration: configuration.garbageCollection, logger: logger,
            removed: { _ in })
    }

    /// Automatic collection at the high watermark, until graceful shutdown.
    func runGarbageCollection() async {
        await garbageCollector.run()
    }
}
