/// How a command shows progress: redrawn in place on a terminal `width` columns wide, one plain
/// line per change otherwise, or nothing (with `--json`, whose answer is printed at the end).
enum ProgressMode {
    case terminal(width: Int)
    case lines
    case silent

    /// Silent with `--json`; else in place when `output` is a terminal, lines when it is not.
    static func of(_ output: FileOutput, json: Bool) -> ProgressMode {
        json ? .silent : (output.isTerminal ? .terminal(width: output.columns) : .lines)
    }
}

/// A command's progress display (fetch, install, rollout). Pure: each call returns the text to
/// write; what nodes and upstreams said is escaped (``TerminalText``) before it is drawn.
protocol ProgressRenderer {
    associatedtype Status
    var mode: ProgressMode { get }
    /// What is drawn on the terminal (``TerminalCanvas``).
    var canvas: TerminalCanvas { get set }
    /// The whole display on a terminal `width` columns wide, a line each.
    func screen(_ status: Status, width: Int) -> [String]
    /// One plain line for each change since the last call.
    mutating func changes(_ status: Status) -> String
}

extension ProgressRenderer {
    mutating func render(_ status: Status) -> String {
        switch mode {
        case .silent: return ""
        case .terminal(let width): return canvas.draw(screen(status, width: width), width: width)
        case .lines: return changes(status)
        }
    }
}

/// Lines redrawn in place: each drawing moves the cursor up over the last one and clears every
/// line it writes. A line is cut to the width, so that none wraps and the count stays right.
struct TerminalCanvas {
    private var drawnLines = 0

    mutating func draw(_ lines: [String], width: Int) -> String {
        var out = drawnLines > 0 ? "\u{1B}[\(drawnLines)A" : ""
        for line in lines { out += "\u{1B}[2K" + String(line.prefix(max(width - 1, 20))) + "\n" }
        drawnLines = lines.count
        return out
    }

    /// `[=====>    ]`'s inside: `width` cells, filled to `fraction` (0 to 1).
    static func bar(_ fraction: Double, width: Int) -> String {
        let filled = Int((min(max(fraction, 0), 1) * Double(width)).rounded(.down))
        return String(repeating: "=", count: filled) + (filled < width ? ">" + String(repeating: " ", count: width - filled - 1) : "")
    }
}
