import FerryCoordinator
import FerryCore
import FerryMesh
import FerryPolicy
import FerryRegistry
import FerryStore
import FerryTestSupport
import Foundation
import Logging
import ServiceLifecycle

/// A leader running in this process on an ephemeral port, driven through its real HTTP admin API.
final class LeaderHarness: Sendable {
    let service: LeaderService
    let client: AdminClient
    let url: String
    private let group: ServiceGroup
    private let task: Task<Void, any Error>

    var dataDirectory: String { service.configuration.dataDirectory }
    var store: BlobStore { service.store }

    private init(service: LeaderService, group: ServiceGroup, task: Task<Void, any Error>, url: String) {
        self.service = service
        self.group = group
        self.task = task
        self.url = url
        self.client = AdminClient(baseURL: url, token: service.adminToken, caFile: service.configuration.dataDirectory + "/ca.pem")
    }

    /// Settings for tests: loopback, ephemeral port, quick retries, no disk reserve.
    static func configuration(dataDirectory: String) -> LeaderConfiguration {
        var configuration = LeaderConfiguration(dataDirectory: dataDirectory, host: "127.0.0.1", port: 0)
        configuration.registry.retry = RetryPolicy(maxAttempts: 4, baseDelay: .milliseconds(50), maxDelay: .milliseconds(500), maxRetryAfter: .seconds(5))
        configuration.registry.connectTimeout = .seconds(3)
        configuration.registry.readTimeout = .seconds(10)
        configuration.store.reservedSpace = 0
        configuration.platform = try! Platform(parsing: "linux/amd64")
        return configuration
    }

    static func start(dataDirectory: String, _ configure: (inout LeaderConfiguration) -> Void = { _ in }) async throws -> LeaderHarness {
        var configuration = configuration(dataDirectory: dataDirectory)
        configure(&configuration)
        let logger = testLogger("ferry.test.leader")
        let service = try LeaderService(configuration: configuration, logger: logger)
        let group = ServiceGroup(configuration: .init(services: [service], logger: logger))
        let task = Task { try await group.run() }
        let deadline = ContinuousClock.now + .seconds(60)
        while service.address == nil {
            guard ContinuousClock.now < deadline else {
                await group.triggerGracefulShutdown()
                throw FerryError(.internal, "the test leader did not start listening")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        return LeaderHarness(service: service, group: group, task: task, url: service.address!)
    }

    /// Asks for `images` and waits until each is present or failed.
    func fetch(_ images: [String], platform: String? = nil, timeout: Duration = .seconds(120)) async throws -> [ImageStatus] {
        let accepted = try await client.fetch(FetchRequest(images: images, platform: platform))
        return try await wait(for: accepted.images.map(\.id), timeout: timeout)
    }

    func wait(for ids: [Int64], timeout: Duration = .seconds(120)) async throws -> [ImageStatus] {
        let deadline = ContinuousClock.now + timeout
        while true {
            var statuses: [ImageStatus] = []
            for id in ids { statuses.append(try await client.image(id: id)) }
            if statuses.allSatisfy(\.isFinished) { return statuses }
            guard ContinuousClock.now < deadline else {
                throw FerryError(.internal, "images still unfinished after \(timeout): \(statuses.map { "\($0.reference)=\($0.state)" })")
            }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    func stop() async {
        await group.triggerGracefulShutdown()
        _ = await task.result
    }

    /// Runs `body` with a leader that is stopped afterwards, whatever happens.
    static func with<T>(
        dataDirectory: String, _ configure: (inout LeaderConfiguration) -> Void = { _ in }, _ body: (LeaderHarness) async throws -> T
    ) async throws -> T {
        let leader = try await start(dataDirectory: dataDirectory, configure)
        do {
            let result = try await body(leader)
            await leader.stop()
            return result
        } catch {
            await leader.stop()
            throw error
        }
    }
}

/// A logger that prints at the level in `FERRY_TEST_LOG` (e.g. `debug`), silent otherwise.
func testLogger(_ label: String) -> Logger {
    guard let level = ProcessInfo.processInfo.environment["FERRY_TEST_LOG"].flatMap(Logger.Level.init(rawValue:)) else {
        return Logger(label: label, factory: { _ in SwiftLogNoOpLogHandler() })
    }
    var logger = Logger(label: label, factory: { StreamLogHandler.standardError(label: $0) })
    logger.logLevel = level
    return logger
}

/// Every file under the store's `blobs/` must hash to its name: nothing half-written, nothing wrong.
func expectStoreConsistent(_ store: BlobStore) async throws -> Bool {
    try await corruptBlobs(in: store).isEmpty
}

/// The committed blobs of `store` whose bytes do not hash to their digest.
func corruptBlobs(in store: BlobStore) async throws -> [Digest] {
    var bad: [Digest] = []
    for digest in store.allBlobs() where try await !store.verify(digest) { bad.append(digest) }
    return bad
}
