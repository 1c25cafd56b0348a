import ArgumentParser
import FerryCore
import FerryMesh
import FerryPolicy
import Foundation

/// `ferry rollout`: the new version of an image into service on the nodes, distribution first.
struct RolloutCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rollout",
        abstract: "Roll a new image version out: install it on every node, then switch the nodes' containers in waves.",
        usage: "ferry rollout [start] [<options>] <image>\nferry rollout status | pause | resume | abort | rollback ...",
        discussion: """
            ferry rollout IMAGE starts a rollout and follows it; ferry rollout status [ID] shows rollouts; \
            ferry rollout pause|resume|abort|rollback ID steers one. Exits 0 only when every target node \
            switched and passed its health gate.
            """,
        subcommands: [
            RolloutStartCommand.self, RolloutStatusCommand.self, RolloutPauseCommand.self, RolloutResumeCommand.self,
            RolloutAbortCommand.self, RolloutRollbackCommand.self,
        ],
        defaultSubcommand: RolloutStartCommand.self
    )
}

struct RolloutStartCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "start",
        abstract: "Start a rollout of IMAGE (the default: ferry rollout IMAGE).",
        discussion: """
            Every container on the target nodes whose image is another tag or digest of IMAGE's repository \
            (or of --replace) is recreated from IMAGE with its own configuration, once every target node holds IMAGE.
            Durations: 500ms, 30s, 2m, 1h, 1m30s or plain seconds, at most 24h.
            """
    )

    @OptionGroup var connection: LeaderConnection

    @Argument(help: "The new image, with a tag, e.g. registry.example.com/team/app:1.3")
    var image: String

    @Option(help: "Replace the containers of this repository (default: IMAGE's own).")
    var replace: String?

    @Option(help: "Comma-separated node names, or all.")
    var nodes: String = "all"

    @Option(name: .customLong("max-parallel"), parsing: .unconditional, help: "Nodes switched at once (default 1).")
    var maxParallel: String?

    @Option(parsing: .unconditional, help: "Nodes in the first wave, after which the rollout waits --canary-wait (default 0: none).")
    var canary: String?

    @Option(name: .customLong("canary-wait"), parsing: .unconditional, help: "How long to wait after the canary wave, or manual: until `ferry rollout resume` (default).")
    var canaryWait: String?

    @Option(parsing: .unconditional, help: "Pause between waves (default 0).")
    var delay: String?

    @Option(help: "stop-first (default) or start-first.")
    var order: String?

    @Option(name: .customLong("min-healthy"), parsing: .unconditional, help: "Without a HEALTHCHECK: the new container must run this long (default 10s).")
    var minHealthy: String?

    @Option(name: .customLong("healthy-deadline"), parsing: .unconditional, help: "With a HEALTHCHECK: the new container must be healthy within this (default 2m).")
    var healthyDeadline: String?

    @Option(name: .customLong("max-failure-ratio"), parsing: .unconditional, help: "Failures tolerated, failed / (failed + switched), 0 to 1 (default 0).")
    var maxFailureRatio: String?

    @Option(
        name: .customLong("distribute-deadline"), parsing: .unconditional,
        help: "A node the image has not reached by then counts failed, e.g. 30m (default: wait for every node, an offline one too).")
    var distributeDeadline: String?

    @Option(name: .customLong("on-failure"), help: "Past the ratio: pause (default), rollback or continue.")
    var onFailure: String?

    @Flag(help: "Once the rollout succeeded, remove the images it replaced from each node's engine where no container uses them.")
    var cleanup = false

    @Flag(help: "Print the result as JSON.")
    var json = false

    @Flag(name: .customLong("no-wait"), help: "Return once the leader has accepted the rollout.")
    var noWait = false

    func run() async throws {
        try await reportingErrors {
            let plan = try self.plan()
            _ = try ImageReference(parsing: image)
            let names = try NodeList.parse(nodes)
            let client = try connection.client()
            let accepted = try await client.createRollout(RolloutRequest(image: image, replace: replace, nodes: names, plan: plan))
            if noWait {
                // The ID alone, for scripts: ID=$(ferry rollout IMAGE --no-wait).
                if json { try FileOutput.standardOutput.writeJSON(accepted) } else { FileOutput.standardOutput.write("\(accepted.id)\n") }
                return
            }
            let detach = DetachOnSignal.watch(
                "stopped following: rollout \(accepted.id) goes on on the leader; `ferry rollout status \(accepted.id) --follow` follows it again, `ferry rollout pause|abort \(accepted.id)` stops it")
            let final: RolloutStatus
            do {
                defer { DetachOnSignal.end(detach) }
                final = try await RolloutOutput.follow(accepted.id, client: client, json: json)
            }
            if json { try FileOutput.standardOutput.writeJSON(final) }
            try RolloutOutput.exitStatus(final, json: json)
        }
    }

    /// The plan the options give, checked here for a clear error without a round trip.
    func plan() throws(FerryError) -> RolloutPlan {
        var plan = RolloutPlan()
        plan.cleanup = cleanup
        if let maxParallel { plan.maxParallel = try Self.integer(maxParallel, option: "--max-parallel") }
        if let canary { plan.canary = try Self.integer(canary, option: "--canary") }
        if let canaryWait {
            if canaryWait == "manual" {
                plan.canaryWaitMilliseconds = nil
            } else {
                do {
                    plan.canaryWaitMilliseconds = try RolloutPlan.milliseconds(parsing: canaryWait, option: "--canary-wait")
                } catch {
                    throw FerryError(error.code, error.message + ", or manual")
                }
            }
        }
        if let delay { plan.delayMilliseconds = try RolloutPlan.milliseconds(parsing: delay, option: "--delay") }
        if let order {
            guard let value = RolloutPlan.Order(rawValue: order) else {
                throw FerryError(.invalidArgument, "--order must be stop-first or start-first (got '\(order)')")
            }
            plan.order = value
        }
        if let minHealthy { plan.minHealthyMilliseconds = try RolloutPlan.milliseconds(parsing: minHealthy, option: "--min-healthy") }
        if let healthyDeadline {
            plan.healthyDeadlineMilliseconds = try RolloutPlan.milliseconds(parsing: healthyDeadline, option: "--healthy-deadline")
        }
        if let distributeDeadline {
            plan.distributeDeadlineMilliseconds = try RolloutPlan.milliseconds(parsing: distributeDeadline, option: "--distribute-deadline")
        }
        if let maxFailureRatio {
            guard let ratio = Double(maxFailureRatio.trimmingWhitespace()), ratio.isFinite else {
                throw FerryError(.invalidArgument, "--max-failure-ratio must be a number between 0 and 1 (got '\(maxFailureRatio)')")
            }
            plan.maxFailureRatio = ratio
        }
        if let onFailure {
            guard let value = RolloutPlan.FailureAction(rawValue: onFailure) else {
                throw FerryError(.invalidArgument, "--on-failure must be pause, rollback or continue (got '\(onFailure)')")
            }
            plan.onFailure = value
        }
        try plan.validate()
        return plan
    }

    static func integer(_ text: String, option: String) throws(FerryError) -> Int {
        guard let value = Int(text.trimmingWhitespace()) else { throw FerryError(.invalidArgument, "\(option) must be a whole number (got '\(text)')") }
        return value
    }
}

struct RolloutStatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "status", abstract: "Show rollouts: all of them, or one per node.")

    @OptionGroup var output: AdminOutputOptions

    @Argument(help: "A rollout ID; without one, every rollout is listed.")
    var id: String?

    @Flag(help: "Follow the rollout until it ends or pauses; exit as `ferry rollout` does.")
    var follow = false

    func run() async throws {
        try await reportingErrors {
            if follow && id == nil { throw FerryError(.invalidArgument, "--follow needs a rollout ID: `ferry rollout status` lists them") }
            let client = try output.connection.client()
            guard let id else {
                return try output.print(try await client.rollouts(), header: ["ROLLOUT", "PHASE", "IMAGE", "SWITCHED", "NO CONTAINERS", "FAILED", "WAVE", "CREATED"]) { list in
                    list.rollouts.map { status in
                        [
                            status.id, status.phase.rawValue, status.image,
                            "\(status.nodes.filter { $0.status == .switched }.count)/\(status.nodes.count)",
                            "\(status.nodes.filter { $0.status == .noContainers }.count)",
                            "\(status.nodes.filter { $0.status == .failed }.count)",
                            status.waves == 0 ? "-" : "\(min(status.wave + 1, status.waves))/\(status.waves)", status.createdAt.formatted(.iso8601),
                        ]
                    }
                }
            }
            let checked = try RolloutOutput.checkID(id)
            if follow {
                let final = try await RolloutOutput.follow(checked, client: client, json: output.json)
                if output.json { try FileOutput.standardOutput.writeJSON(final) }
                return try RolloutOutput.exitStatus(final, json: output.json)
            }
            try output.print(try await client.rollout(id: checked), header: RolloutOutput.nodeHeader) { status in
                FileOutput.standardOutput.write(RolloutProgressRenderer.headline(status) + "\n")
                return RolloutOutput.nodeRows(status)
            }
        }
    }
}

/// What `ferry rollout pause|resume|abort|rollback` take: the leader, the rollout, the output.
struct RolloutControlOptions: ParsableArguments {
    @OptionGroup var output: AdminOutputOptions
    @Argument(help: "The rollout ID.") var id: String
}

/// `ferry rollout pause|resume|abort|rollback ID`.
protocol RolloutControlCommand: AsyncParsableCommand {
    static var control: RolloutControl { get }
    var options: RolloutControlOptions { get }
}

extension RolloutControlCommand {
    func run() async throws {
        try await reportingErrors {
            let status = try await options.output.connection.client().controlRollout(id: try RolloutOutput.checkID(options.id), Self.control)
            try options.output.print(status) { RolloutProgressRenderer.headline($0) + "\n" }
        }
    }
}

struct RolloutPauseCommand: RolloutControlCommand {
    static let configuration = CommandConfiguration(commandName: "pause", abstract: "Start no new wave (the wave in flight finishes).")
    static let control = RolloutControl.pause
    @OptionGroup var options: RolloutControlOptions
}

struct RolloutResumeCommand: RolloutControlCommand {
    static let configuration = CommandConfiguration(commandName: "resume", abstract: "Go on with the next wave (after a pause or a manual canary wait).")
    static let control = RolloutControl.resume
    @OptionGroup var options: RolloutControlOptions
}

struct RolloutAbortCommand: RolloutControlCommand {
    static let configuration = CommandConfiguration(commandName: "abort", abstract: "End the rollout here; nodes stay as they are.")
    static let control = RolloutControl.abort
    @OptionGroup var options: RolloutControlOptions
}

struct RolloutRollbackCommand: RolloutControlCommand {
    static let configuration = CommandConfiguration(commandName: "rollback", abstract: "Put every switched node back to its old containers, in waves.")
    static let control = RolloutControl.rollback
    @OptionGroup var options: RolloutControlOptions
}

/// Shows a rollout's progress and result; shared by `rollout` and `rollout status --follow`.
enum RolloutOutput {
    /// Follows rollout `id` until it is over or paused.
    static func follow(_ id: String, client: AdminClient, json: Bool) async throws -> RolloutStatus {
        let output = FileOutput.standardOutput
        var renderer = RolloutProgressRenderer(mode: .of(output, json: json))
        var poll = LeaderPoll()
        while true {
            let status = try await poll.next { try await client.rollout(id: id) }
            output.write(renderer.render(status))
            if status.isFinal || status.phase == .paused {
                output.write(renderer.finish(status))
                return status
            }
            try await Task.sleep(for: .milliseconds(250))
        }
    }

    /// Exit 0 only when every target node switched and passed; else one line per failed node.
    static func exitStatus(_ status: RolloutStatus, json: Bool) throws {
        guard !status.isSuccess else { return }
        if !json {
            // A node whose restore failed stays switched, with the reason: named too.
            for node in status.nodes where node.status == .failed || (node.status == .switched && node.reason != nil) {
                printError("\(node.name): \(node.reason ?? "failed")")
            }
            switch status.phase {
            case .paused:
                printError("rollout \(status.id) paused: \(status.pauseReason ?? "paused") (`ferry rollout resume \(status.id)`, or abort or rollback)")
            case .rolledBack: printError("rollout \(status.id) rolled back")
            case .aborted: printError("rollout \(status.id) aborted")
            default: break
            }
        }
        throw ExitCode(1)
    }

    /// A rollout ID as the leader makes them (letters, digits, '-'), else the same answer as an unknown one.
    static func checkID(_ id: String) throws(FerryError) -> String {
        guard !id.isEmpty, id.count <= 64, id.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }) else {
            throw FerryError(.notFound, "no rollout with ID '\(TerminalText.escape(id, limit: 64))'; `ferry rollout status` lists them")
        }
        return id
    }

    /// The per-node table of a rollout: ``nodeHeader``, then ``nodeRows(_:)``.
    static let nodeHeader = ["NODE", "STATUS", "CONTAINERS", "DOWNTIME", "DETAIL"]

    static func nodeRows(_ status: RolloutStatus) -> [[String]] {
        status.nodes.map { node in
            [node.name, node.status.rawValue, "\(node.containers)", RolloutProgressRenderer.downtime(node), RolloutProgressRenderer.detail(node)]
        }
    }
}
