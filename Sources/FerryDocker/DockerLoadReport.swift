import FerryCore
import FerryFormats

/// What a `POST /images/load` message stream said, and whether it means success.
///
/// The engine answers HTTP 200 before it has read the archive, so success is decided from the
/// stream: it failed if any message carries `error`/`errorDetail`, or if no `Loaded image`
/// line appeared (protocol notes §5).
public struct DockerLoadReport: Sendable, Hashable {
    /// What the engine loaded: tags (`Loaded image: demo/app:1`) and image IDs
    /// (`Loaded image ID: sha256:…`), in the order reported.
    public private(set) var loaded: [String] = []
    /// The first error the stream reported.
    public private(set) var error: String?

    public init() {}

    /// Records one message.
    public mutating func add(_ message: DockerJSONMessage) {
        if let failure = message.errorMessage {
            if error == nil { error = failure }
            return
        }
        guard let stream = message.stream else { return }
        for line in stream.split(whereSeparator: \.isNewline) {
            let text = line.trimmingWhitespace()
            for prefix in ["Loaded image ID: ", "Loaded image: "] where text.hasPrefix(prefix) {
                let value = String(text.dropFirst(prefix.count)).trimmingWhitespace()
                if !value.isEmpty { loaded.append(value) }
                break
            }
        }
    }

    /// What was loaded; throws ``FerryError/Code/dockerLoadFailed`` with the engine's own
    /// message when the stream reported an error or loaded nothing.
    public func result() throws(FerryError) -> [String] {
        if let error {
            throw FerryError(.dockerLoadFailed, "docker load failed: \(error)")
        }
        guard !loaded.isEmpty else {
            throw FerryError(.dockerLoadFailed, "docker load failed: the engine reported no 'Loaded image' line")
        }
        return loaded
    }
}
