import Foundation

/// Paths inside the Ferry checkout, for tests that run its scripts and binary.
public enum RepositoryLayout {
    /// The package root (the directory holding Package.swift).
    public static let root: String = {
        var url = URL(fileURLWithPath: #filePath)
        while url.path != "/" {
            url.deleteLastPathComponent()
            if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) { return url.path }
        }
        fatalError("cannot find the package root from \(#filePath)")
    }()

    public static func cluster(_ script: String) -> String { "\(root)/cluster/\(script)" }

    /// The `ferry` binary of the current build (`swift build` puts it beside the test bundle:
    /// on Linux `Bundle.main` is the directory holding the test executable, on macOS the
    /// `.xctest` bundle), so that `--scratch-path` builds test their own binary.
    public static var ferryBinary: String {
        let bundle = Bundle.main.bundlePath
        for candidate in [
            URL(fileURLWithPath: bundle).appendingPathComponent("ferry").path,
            URL(fileURLWithPath: bundle).deletingLastPathComponent().appendingPathComponent("ferry").path,
            "\(root)/.build/debug/ferry",
        ] where FileManager.default.isExecutableFile(atPath: candidate) {
            return candidate
        }
        return "\(root)/.build/debug/ferry"
    }

    public static var isRoot: Bool { getuid() == 0 }
}
