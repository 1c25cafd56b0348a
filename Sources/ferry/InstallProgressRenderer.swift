import FerryCore
import FerryMesh

/// Draws an install: one line per node with a bar and state, redrawn in place on a terminal, or
/// one plain line per change otherwise. Pure: returns the text to write. What nodes said (names,
/// errors, notes) is escaped (``TerminalText``) before the renderer adds its own cursor codes.
struct InstallProgressRenderer: ProgressRenderer {
    let mode: ProgressMode
    var canvas = TerminalCanvas()
    private var lastState: [Int64: TargetState] = [:]

    init(mode: ProgressMode) { self.mode = mode }

    mutating func finish(_ install: InstallStatus) -> String {
        if case .silent = mode { return "" }
        let done = install.targets.filter { $0.state == .done }.count
        return "install \(install.id) \(install.state): \(done)/\(install.targets.count) done\n"
    }

    /// Per node: its targets summed up.
    static func nodeLines(_ install: InstallStatus) -> [(node: String, done: Int64, total: Int64, state: TargetState, detail: String)] {
        var order: [String] = []
        var byNode: [String: [TargetStatus]] = [:]
        for target in install.targets {
            if byNode[target.node] == nil { order.append(target.node) }
            byNode[target.node, default: []].append(target)
        }
        return order.map { node in
            let targets = byNode[node]!
            let states = targets.map(\.state)
            let state =
                [TargetState.failed, .loading, .ready, .transferring, .waiting].first { states.contains($0) } ?? .done
            let current = targets.first { $0.state == state }
            let detail = TerminalText.escape([current?.image, current?.error?.message ?? current?.note].compactMap { $0 }.joined(separator: ": "))
            // Saturating sums: the counts come from nodes (a leader before 2026-12-06 kept any Int64 one sent).
            let done = targets.reduce(Int64(0)) { Self.adding($0, $1.state == .done ? $1.bytesTotal : $1.bytesDone) }
            return (TerminalText.escape(node, limit: 64), done, targets.reduce(Int64(0)) { Self.adding($0, $1.bytesTotal) }, state, detail)
        }
    }

    /// `a + b` kept within 0 … Int64.max.
    static func adding(_ a: Int64, _ b: Int64) -> Int64 {
        let (sum, overflow) = max(a, 0).addingReportingOverflow(max(b, 0))
        return overflow ? .max : sum
    }

    func screen(_ install: InstallStatus, width: Int) -> [String] {
        var lines = ["install \(install.id) \(install.state) (max \(install.maxParallel) loading at once)"]
        let nodes = Self.nodeLines(install)
        let nameWidth = min(max(nodes.map(\.node.count).max() ?? 4, 4), 24)
        for line in nodes {
            let fraction = line.total > 0 ? Double(line.done) / Double(line.total) : (line.state == .done ? 1 : 0)
            let bar = TerminalCanvas.bar(fraction, width: max(10, min(30, width - nameWidth - 60)))
            let sizes = "\(ByteSize.format(line.done))/\(ByteSize.format(line.total))"
            lines.append("  \(line.node.padding(to: nameWidth)) [\(bar)] \(sizes.padding(to: 22)) \(line.state.rawValue.padding(to: 12)) \(line.detail)")
        }
        return lines
    }

    mutating func changes(_ install: InstallStatus) -> String {
        var out = ""
        for target in install.targets where lastState[target.id] != target.state {
            lastState[target.id] = target.state
            var line = "\(target.node): \(target.image): \(target.state)"
            if target.state == .done || target.state == .transferring { line += " (\(ByteSize.format(target.bytesTotal)))" }
            if let error = target.error { line += ": \(error.message)" } else if let note = target.note, target.state == .done { line += ": \(note)" }
            out += TerminalText.escape(line, limit: 1000) + "\n"
        }
        return out
    }
}
