import ArgumentParser

/// A long-running command (`ferry leader`, `ferry follower`, `ferry proxy serve`): with
/// `--print-config` it prints its effective configuration and ends; otherwise ``serve()`` runs,
/// and an error ends it with one line and a non-zero status.
protocol DaemonCommand: AsyncParsableCommand {
    /// Its configuration file, `--print-config` and logging.
    var service: ServiceOptions { get }
    /// Its settings, as a configuration file and `--print-config` name them.
    static var settings: [DaemonSetting<Self>] { get }
    /// Checks the options, starts the daemon and runs it until it stops.
    func serve() async throws
}

extension DaemonCommand {
    func run() async throws {
        if service.printedConfiguration(of: self, settings: Self.settings) { return }
        try await reportingErrors { try await serve() }
    }
}

/// `ferry leader` and `ferry follower`: a daemon with the node options they share
/// (``DaemonOptions``), whose keys follow its own in `--print-config`.
protocol NodeDaemonCommand: DaemonCommand {
    var daemon: DaemonOptions { get }
    /// The keys of this command alone.
    static var ownSettings: [DaemonSetting<Self>] { get }
}

extension NodeDaemonCommand {
    var service: ServiceOptions { daemon.service }

    static var settings: [DaemonSetting<Self>] { ownSettings + DaemonOptions.settings.map { setting in setting.lifted { $0.daemon } } }
}
