import FerryCore
import FerryMesh

/// Draws fetch progress: a bar per blob redrawn in place on a terminal, or one plain line per
/// event (resolved, blob done, image done) otherwise. Pure: returns the text to write.
struct FetchProgressRenderer {
    enum Mode {
        case terminal(width: Int)
        case lines
        case silent
    }

    let mode: Mode
    private var drawnLines = 0
    private var reported = Set<String>()

    init(mode: Mode) { self.mode = mode }

    var isTerminal: Bool {
        if case .terminal = mode { return true }
        return false
    }

    mutating func render(_ images: [ImageStatus]) -> String {
        switch mode {
        case .silent: return ""
        case .terminal(let width): return redraw(images, width: width)
        case .lines: return events(images)
        }
    }

    mutating func finish(_ images: [ImageStatus]) -> String {
        guard case .silent = mode else {
            return images.filter { $0.state == .present }.map { image in
                "\(image.reference): present \(image.manifestDigest ?? "") (\(ByteSize.format(image.size)))\n"
            }.joined()
        }
        return ""
    }

    private mutating func redraw(_ images: [ImageStatus], width: Int) -> String {
        var lines: [String] = []
        for image in images {
            let total = image.size > 0 ? " \(ByteSize.format(image.bytesDone))/\(ByteSize.format(image.size))" : ""
            lines.append("\(image.reference) [\(image.resolvedPlatform ?? image.platform)] \(image.state)\(total)")
            for blob in image.blobs ?? [] {
                let barWidth = max(10, min(30, width - 60))
                let fraction = blob.size > 0 ? Double(blob.bytesDone) / Double(blob.size) : 1
                let filled = Int((fraction * Double(barWidth)).rounded(.down))
                let bar = String(repeating: "=", count: filled) + (filled < barWidth ? ">" + String(repeating: " ", count: barWidth - filled - 1) : "")
                let id = String(blob.digest.split(separator: ":").last?.prefix(12) ?? "")
                let sizes = "\(ByteSize.format(blob.bytesDone))/\(ByteSize.format(blob.size))"
                lines.append("  \(id) [\(bar)] \(sizes.padding(to: 22)) \(blob.state)")
            }
            if let error = image.error { lines.append("  error: \(TerminalText.escape(error.message))") }
        }
        var out = drawnLines > 0 ? "\u{1B}[\(drawnLines)A" : ""
        for line in lines { out += "\u{1B}[2K" + String(line.prefix(max(width - 1, 20))) + "\n" }
        drawnLines = lines.count
        return out
    }

    private mutating func events(_ images: [ImageStatus]) -> String {
        var out = ""
        for image in images {
            if image.state != .pending, reported.insert("\(image.id)/resolved").inserted, let digest = image.manifestDigest {
                out += "\(image.reference): resolved \(digest) [\(image.resolvedPlatform ?? image.platform)], \(image.blobs?.count ?? 0) blobs, \(ByteSize.format(image.size))\n"
            }
            guard reported.contains("\(image.id)/resolved") else { continue }
            for blob in image.blobs ?? [] where blob.state == .present || blob.state == .failed {
                if reported.insert("\(image.id)/\(blob.digest)").inserted {
                    out += "\(image.reference): blob \(blob.digest) \(blob.state) (\(ByteSize.format(blob.size)))\n"
                }
            }
        }
        return out
    }
}

extension String {
    func padding(to length: Int) -> String {
        count >= length ? self : self + String(repeating: " ", count: length - count)
    }
}
