import FerryCore
import FerryMesh

/// Draws fetch progress: a bar per blob redrawn in place on a terminal, or one plain line per
/// event (resolved, blob done, image done) otherwise. Pure: returns the text to write.
struct FetchProgressRenderer: ProgressRenderer {
    let mode: ProgressMode
    var canvas = TerminalCanvas()
    private var reported = Set<String>()

    init(mode: ProgressMode) { self.mode = mode }

    mutating func finish(_ images: [ImageStatus]) -> String {
        guard case .silent = mode else {
            return images.filter { $0.state == .present }.map { image in
                "\(image.reference): present \(image.manifestDigest ?? "") (\(ByteSize.format(image.size)))\n"
            }.joined()
        }
        return ""
    }

    func screen(_ images: [ImageStatus], width: Int) -> [String] {
        var lines: [String] = []
        for image in images {
            let total = image.size > 0 ? " \(ByteSize.format(image.bytesDone))/\(ByteSize.format(image.size))" : ""
            lines.append("\(image.reference) [\(image.resolvedPlatform ?? image.platform)] \(image.state)\(total)")
            for blob in image.blobs ?? [] {
                let bar = TerminalCanvas.bar(blob.size > 0 ? Double(blob.bytesDone) / Double(blob.size) : 1, width: max(10, min(30, width - 60)))
                let id = String(blob.digest.split(separator: ":").last?.prefix(12) ?? "")
                let sizes = "\(ByteSize.format(blob.bytesDone))/\(ByteSize.format(blob.size))"
                lines.append("  \(id) [\(bar)] \(sizes.padding(to: 22)) \(blob.state)")
            }
            if let error = image.error { lines.append("  error: \(TerminalText.escape(error.message))") }
        }
        return lines
    }

    mutating func changes(_ images: [ImageStatus]) -> String {
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
