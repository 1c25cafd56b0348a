import ArgumentParser
import FerryConfig
import FerryCore
import FerryTransfer

#if canImport(Glibc)
import Glibc
#endif

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
    /// Checks what one option alone cannot (a pair that contradicts itself), before
    /// `--print-config` prints anything. Default: nothing.
    func checkCombinations() throws(FerryError)
    /// The addresses the daemon will listen on, with the flag that sets each, checked
    /// (``ListenProbe``) before it starts. Default: none.
    func listenAddresses() throws -> [(flag: String, host: String, port: Int)]
    /// The data directory the daemon locks: a running daemon there is named before its ports
    /// are checked (they are busy because of it). Default: none.
    var lockedDirectory: String? { get }
}

extension DaemonCommand {
    func checkCombinations() throws(FerryError) {}
    func listenAddresses() throws -> [(flag: String, host: String, port: Int)] { [] }
    var lockedDirectory: String? { nil }
}

extension DaemonCommand {
    func run() async throws {
        try await reportingErrors {
            if try service.printedConfiguration(of: self, settings: Self.settings) { return }
            do {
                // Nothing is written or joined if a port is taken; a daemon already running on
                // the data directory is named as such (its ports are the ones taken).
                if let directory = lockedDirectory, DirectoryLock.isHeld(in: directory) { throw DirectoryLock.busy(directory) }
                for (flag, host, port) in try listenAddresses() {
                    do {
                        try await ListenProbe.check(host: host, port: port)
                    } catch {
                        let address = "\(flag) \(host.contains(":") ? "[\(host)]" : host):\(port)"
                        throw listenFailure(error, addresses: address)
                            ?? FerryError(.configuration, "cannot listen (\(address)): \(ListenProbe.describe(error)); check --listen")
                    }
                }
                try await serve()
            } catch {
                throw listenFailure(error) ?? error
            }
        }
    }

    /// A listening socket that could not be bound, as one line naming the addresses this daemon
    /// listens on and what to do; nil for any other error.
    func listenFailure(_ error: any Error, addresses: String? = nil) -> FerryError? {
        let addresses = addresses ?? Self.settings.filter { ["listen", "local-registry-port"].contains($0.option.key) }
            .compactMap { setting in setting.value(self)?.texts.first.map { "\(setting.option.flag) \($0)" } }
            .joined(separator: ", ")
        switch TransportProblem(error) {
        case .system(errno: EADDRINUSE):
            return FerryError(.configuration, "cannot listen (\(addresses)): the address is in use by another process; stop that process or choose another address")
        case .system(errno: EADDRNOTAVAIL):
            return FerryError(.configuration, "cannot listen (\(addresses)): no interface of this machine has that address; choose one it has, or 0.0.0.0")
        default:
            return nil
        }
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

    /// The collection's watermarks and retention, checked together.
    func checkCombinations() throws(FerryError) { _ = try daemon.gc.configuration() }

    static var settings: [DaemonSetting<Self>] { ownSettings + DaemonOptions.settings.map { setting in setting.lifted { $0.daemon } } }
}
