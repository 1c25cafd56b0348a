import ArgumentParser
import FerryCore
import FerryMesh
import Foundation

struct InstallCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "install",
        abstract: "Install images into the Docker engine of every node (or the ones named).",
        discussion: """
            The leader fetches each image once, the nodes pull it over the mesh, and at most \
            --max-parallel nodes load into Docker at the same time. Exits 0 only when every image \
            is in every target node's engine.
            """
    )

    @OptionGroup var connection: LeaderConnection

    @OptionGroup var request: ImageRequestOptions

    @Option(help: "Comma-separated node names, or all.")
    var nodes: String = "all"

    @Option(name: .customLong("max-parallel"), parsing: .unconditional, help: "How many nodes may load into Docker at the same time.")
    var maxParallel: Int = InstallRequest.defaultMaxParallel

    @Option(help: "Platform to install, os/arch[/variant]. Default: each node's own.")
    var platform: String?

    @Option(parsing: .unconditional, help: "Give up on nodes not done within this time, e.g. 30m or 2h.")
    var deadline: String?

    func run() async throws {
        try await reportingErrors {
            try request.checkLocally(platform: platform)
            guard maxParallel >= 1 else { throw FerryError(.invalidArgument, "--max-parallel must be at least 1") }
            let deadlineSeconds = try deadline.map { text throws(FerryError) in try Self.parseDeadline(text) }
            let names = try NodeList.parse(nodes)
            let client = try connection.client()
            let accepted = try await client.install(
                InstallRequest(
                    images: request.images, nodes: names, maxParallel: maxParallel, platform: platform,
                    deadlineSeconds: deadlineSeconds, pull: request.pull))
            if request.noWait {
                // The ID alone, for scripts: ID=$(ferry install IMAGE --no-wait).
                if request.json { try FileOutput.standardOutput.writeJSON(accepted) } else { FileOutput.standardOutput.write("\(accepted.id)\n") }
                return
            }
            let detach = DetachOnSignal.watch(
                "stopped following: install \(accepted.id) goes on on the leader; `ferry status \(accepted.id) --follow` follows it again")
            let final: InstallStatus
            do {
                defer { DetachOnSignal.end(detach) }
                final = try await InstallOutput.follow(install: accepted.id, client: client, json: request.json)
            }
            if request.json { try FileOutput.standardOutput.writeJSON(final) }
            try InstallOutput.exitStatus(final, json: request.json)
        }
    }

    /// `--deadline`: `90` (seconds), `90s`, `15m`, `2h`, `1d` or a sum such as `1h30m`
    /// (``TimeToLive``, as `token --ttl`) → seconds.
    static func parseDeadline(_ text: String) throws(FerryError) -> Int {
        let seconds = try? TimeToLive.parse(text, bareSeconds: true).components.seconds
        guard let seconds, seconds > 0 else {
            throw FerryError(.invalidArgument, "invalid --deadline '\(text.prefix(40))': expected e.g. 90s, 30m, 2h, 1h30m or 1d")
        }
        return Int(seconds)
    }
}

/// Shows an install's progress and result; shared by `install` and `status`.
enum InstallOutput {
    /// How often a follow shows progress.
    static let progressInterval: Duration = .milliseconds(200)

    static func follow(install id: Int64, client: AdminClient, json: Bool) async throws -> InstallStatus {
        let output = FileOutput.standardOutput
        var renderer = InstallProgressRenderer(mode: .of(output, json: json))
        var warnings = WarningPrinter()
        var poll = LeaderPoll()
        var last: InstallStatus?
        while true {
            // Progress five times a second; a change of state (a target done, the install over)
            // at once: the leader answers as soon as the states differ from the last ones seen.
            let asked = ContinuousClock.now
            let status = try await poll.next {
                guard let last else { return try await client.install(id: id) }
                return try await client.install(id: id, changedFrom: last.stateKey, wait: progressInterval)
            }
            if !json { warnings.print(status.warnings ?? []) }
            output.write(renderer.render(status))
            if status.isFinished {
                output.write(renderer.finish(status))
                return status
            }
            // Unchanged states come back early only from an older leader, which does not wait:
            // keep the pace.
            if let last, status.stateKey == last.stateKey {
                try await Task.sleep(until: asked + progressInterval)
            }
            last = status
        }
    }

    /// Exit 1, with one line per failed node and image, when anything failed.
    static func exitStatus(_ status: InstallStatus, json: Bool) throws {
        let failed = status.targets.filter { $0.state == .failed }
        guard !failed.isEmpty || status.state == .failed else { return }
        if !json {
            for target in failed {
                printError("\(target.node): \(target.image): \(target.error?.message ?? "failed")")
            }
        }
        throw ExitCode(1)
    }
}
