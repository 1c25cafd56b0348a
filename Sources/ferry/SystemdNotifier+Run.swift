import FerryCoordinator
import Logging
import ServiceLifecycle
import UnixSignals

extension SystemdNotifier {
    /// Runs a daemon's `service` until SIGTERM or SIGINT, with ``stoppingNotice()`` beside it
    /// (last, so that it is the first to hear of a shutdown); `grace` bounds the graceful shutdown
    /// (nil: no bound).
    func run(_ service: some Service, logger: Logger, grace: Duration? = nil) async throws {
        var group = ServiceGroupConfiguration(
            services: [.init(service: service), .init(service: stoppingNotice(), successTerminationBehavior: .ignore)],
            gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        group.maximumGracefulShutdownDuration = grace
        try await ServiceGroup(configuration: group).run()
    }
}
