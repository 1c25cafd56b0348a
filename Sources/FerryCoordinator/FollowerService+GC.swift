import FerryMesh
import FerryServer

extension FollowerService: LocalAdminBackend {
    /// The follower's collector (``GarbageCollector/follower(node:database:store:configuration:mesh:logger:)``).
    var garbageCollector: GarbageCollector {
        .follower(
            node: nodeName ?? configuration.name, database: database, store: store, configuration: configuration.garbageCollection,
            mesh: mesh, logger: logger)
    }

    /// `ferry gc --data-dir` on this node (its local ``AdminAPI/gc`` route).
    public func collectGarbage(_ request: GarbageCollectionRequest) async throws -> GarbageCollectionReport {
        try await garbageCollector.collect(request)
    }

    /// Automatic collection at the high watermark, until graceful shutdown.
    func runGarbageCollection() async {
        await garbageCollector.run()
    }
}
