import FerryCoordinator
import Logging
import ServiceLifecycle
import UnixSignals

extension SystemdNotifier {
    /// Runs a daemon's `service` until SIGTERM or SIGINT, with ``stoppingNotice()`` beside it
    /// (last, so that it is the first to hear of a shutdown); `grace` bounds the graceful shutdown
    /// (nil: no bound).
    func run(_ service: some Service, logger: Logger, grace: Duration? = nil) async throws {
        try await group(service, logger: logger, grace: grace).run()
    }

    /// The service group ``run(_:logger:grace:)`` runs; with `signals` empty, the caller
    /// triggers its graceful shutdown.
    func group(_ service: some Service, logger: Logger, grace: Duration? = nil, signals: [UnixSignal] = [.sigterm, .sigint]) -> ServiceGroup {
        var group = ServiceGroupConfiguration(
            services: [.init(service: service), .init(service: stoppingNotice(), successTerminationBehavior: .ignore)],
            gracefulShutdownSignals: signals, logger: logger)
        group.maximumGracefulShutdownDuration = grace
        return ServiceGroup(configuration: group)
    }
}
