import FerryMesh
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Unbuffered writes to stdout/stderr, and whether they are terminals.
struct FileOutput: Sendable {
    let descriptor: Int32

    static let standardOutput = FileOutput(descriptor: STDOUT_FILENO)
    static let standardError = FileOutput(descriptor: STDERR_FILENO)

    var isTerminal: Bool { isatty(descriptor) == 1 }

    func write(_ text: String) {
        var bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeMutableBytes { Glibc.write(descriptor, $0.baseAddress! + offset, $0.count - offset) }
            if written <= 0 { return }
            offset += written
        }
    }

    /// Terminal width, 100 when unknown.
    var columns: Int {
        var size = winsize()
        guard ioctl(descriptor, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0 else { return 100 }
        return Int(size.ws_col)
    }
}

extension FileOutput {
    /// Writes `value` as pretty-printed JSON with sorted keys (every command's `--json`).
    func writeJSON(_ value: some Encodable) throws {
        let encoder = FerryJSON.encoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        write(String(decoding: try encoder.encode(value), as: UTF8.self) + "\n")
    }
}
