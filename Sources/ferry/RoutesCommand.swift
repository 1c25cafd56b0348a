import ArgumentParser
import FerryProxy
import FerryServer

/// `ferry routes`: the routes the leader's and a follower's router serve, as JSON, from the
/// routers themselves (``FerryRoutes/list(for:)``).
struct RoutesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "routes",
        abstract: "Print every route the leader, a follower and the vendor proxy serve, as JSON.",
        discussion: "{\"leader\": [{\"method\": \"GET\", \"path\": \"/healthz\"}, ...], \"follower\": [...]}, read from the routers the daemons build."
    )

    func run() async throws {
        try await reportingErrors {
            var routes: [String: [FerryRoutes.Route]] = [:]
            for role in FerryRole.allCases { routes[role.rawValue] = try FerryRoutes.list(for: role) }
            routes["proxy"] = try await ProxyServer.routes()
            try FileOutput.standardOutput.writeJSON(routes)
        }
    }
}
