import FerryCore
import FerryMesh
import FerryPolicy

/// Draws a rollout: one line per node (status, containers replaced, downtime, detail), redrawn in
/// place on a terminal, or one plain line per change otherwise. Pure: returns the text to write.
/// What nodes said is escaped (``TerminalText``) before the renderer adds its cursor codes.
struct RolloutProgressRenderer: ProgressRenderer {
    let mode: ProgressMode
    var canvas = TerminalCanvas()
    private var lastPhase: String?
    private var lastNodes: [String: String] = [:]

    init(mode: ProgressMode) { self.mode = mode }

    mutating func finish(_ status: RolloutStatus) -> String {
        if case .silent = mode { return "" }
        let switched = status.nodes.filter { $0.status == .switched }.count
        let none = status.nodes.filter { $0.status == .noContainers }.count
        // A node with no container to switch (none of the repository, or all on the image already) is not counted as switched.
        return "rollout \(status.id) \(status.phase.rawValue): \(switched)/\(status.nodes.count) nodes switched"
            + (none > 0 ? ", \(none) with no container to switch" : "") + "\n"
    }

    /// `rollout ID PHASE IMAGE (wave k/n)` and why it is paused.
    static func headline(_ status: RolloutStatus) -> String {
        var line = "rollout \(status.id) \(status.phase.rawValue) \(status.image)"
        if status.waves > 0 { line += " (wave \(min(status.wave + 1, status.waves))/\(status.waves))" }
        if let reason = status.pauseReason { line += ": \(reason)" }
        return TerminalText.escape(line, limit: 1000)
    }

    static func downtime(_ node: RolloutNodeStatus) -> String {
        guard let milliseconds = node.downtimeMilliseconds else { return "-" }
        return milliseconds < 10_000 ? "\(milliseconds) ms" : "\(milliseconds / 1000) s"
    }

    /// What a node's line says beside its status: distribution progress, or why it failed.
    static func detail(_ node: RolloutNodeStatus) -> String {
        if let reason = node.reason { return TerminalText.escape(reason, limit: 300) }
        if node.status == .distributing, let done = node.bytesDone, let total = node.bytesTotal {
            return "\(ByteSize.format(done))/\(ByteSize.format(total))"
        }
        return ""
    }

    func screen(_ status: RolloutStatus, width: Int) -> [String] {
        var lines = [Self.headline(status)]
        let nameWidth = min(max(status.nodes.map(\.name.count).max() ?? 4, 4), 24)
        for node in status.nodes {
            let containers = node.containers > 0 ? "\(node.containers) replaced" : ""
            let text =
                "  \(TerminalText.escape(node.name, limit: 64).padding(to: nameWidth)) \(node.status.rawValue.padding(to: 14)) "
                + "\(containers.padding(to: 12)) \(Self.downtime(node).padding(to: 9)) \(Self.detail(node))"
            lines.append(text)
        }
        return lines
    }

    mutating func changes(_ status: RolloutStatus) -> String {
        var out = ""
        let headline = Self.headline(status)
        if lastPhase != status.phase.rawValue {
            lastPhase = status.phase.rawValue
            out += headline + "\n"
        }
        for node in status.nodes where lastNodes[node.name] != node.status.rawValue {
            lastNodes[node.name] = node.status.rawValue
            var line = "\(node.name): \(node.status.rawValue)"
            if node.status == .switched { line += " (\(node.containers) container\(node.containers == 1 ? "" : "s"), downtime \(Self.downtime(node)))" }
            if let reason = node.reason { line += ": \(reason)" }
            out += TerminalText.escape(line, limit: 1000) + "\n"
        }
        return out
    }
}
