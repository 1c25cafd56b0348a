/// What `GET /_ping` and `GET /version` told about an engine.
public struct DockerEngineInfo: Sendable, Hashable {
    /// The API version this client uses with the engine (negotiated, e.g. `1.41`).
    public var apiVersion: String
    /// The engine's release, e.g. `20.10.24+dfsg1`.
    public var serverVersion: String
    /// The engine's OS (`linux`).
    public var os: String

    public init(apiVersion: String, serverVersion: String, os: String) {
        self.apiVersion = apiVersion
        self.serverVersion = serverVersion
        self.os = os
    }

    /// The engine's major release (`20` for `20.10.24+dfsg1`), nil if unreadable.
    public var majorVersion: Int? {
        Int(String(serverVersion.prefix(while: \.isNumber)))
    }

    /// Whether the engine reads zstd-compressed layers in a loaded archive (Docker 23.0 and later).
    public var readsZstdLayers: Bool { (majorVersion ?? 0) >= 23 }

    /// Whether the engine's own `docker save` writes an OCI image layout beside `manifest.json`
    /// (Docker 25.0 and later), so loads should carry one too.
    public var expectsOCILayout: Bool { (majorVersion ?? 0) >= 25 }
}
