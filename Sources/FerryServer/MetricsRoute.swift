import FerryCore
import HTTPTypes
import Hummingbird
import Metrics
import NIOCore
import Prometheus
import Synchronization

/// The process's Prometheus registry and the `/metrics` route that exports it.
public enum MetricsExport {
    private static let state = Mutex<PrometheusCollectorRegistry?>(nil)

    /// Installs the Prometheus backend for swift-metrics, once per process; later calls return
    /// the same registry.
    @discardableResult
    public static func bootstrap() -> PrometheusCollectorRegistry {
        state.withLock { registry in
            if let registry { return registry }
            let created = PrometheusCollectorRegistry()
            MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: created))
            registry = created
            return created
        }
    }

    /// `GET /metrics`: Prometheus text format, behind the node's credentials like every route but `/healthz`.
    public static func addRoute(to router: Router<FerryRequestContext>) {
        let registry = bootstrap()
        router.get("/metrics") { _, context in
            guard context.principal?.mayRead == true else {
                throw FerryError(.denied, "metrics need the admin token or a node credential")
            }
            var headers = HTTPFields()
            headers[.contentType] = "text/plain; version=0.0.4"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: registry.emitToBuffer())))
        }
    }
}
