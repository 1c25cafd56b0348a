import FerryCore
import FerryFormats

/// A container as `GET /containers/{id}/json` describes it: the fields Ferry decides on, and
/// the engine's own `Config`, `HostConfig` and networks kept whole, so that a container is
/// recreated with every setting it had (see ``ContainerRecreation``).
public struct DockerContainer: Sendable, Hashable {
    /// The full container ID.
    public var id: String
    /// Its name, without the engine's leading `/`.
    public var name: String
    /// The ID of the image it runs, `sha256:<hex>`.
    public var imageID: String
    /// The reference it was created from (`Config.Image`), as the user wrote it.
    public var imageReference: String
    /// `Config`, as the engine reports it.
    public var config: JSONValue
    /// `HostConfig`, as the engine reports it.
    public var hostConfig: JSONValue
    /// `NetworkSettings.Networks`: network name → endpoint settings.
    public var networks: [String: JSONValue]
    /// Its state.
    public var state: DockerContainerState
    /// How many times the engine restarted it (`RestartCount`).
    public var restartCount: Int
    /// `Mounts`: what is mounted where (volumes with their names, binds), as the engine reports it.
    public var mounts: [JSONValue]

    public init(
        id: String, name: String, imageID: String, imageReference: String, config: JSONValue, hostConfig: JSONValue,
        networks: [String: JSONValue], state: DockerContainerState, restartCount: Int, mounts: [JSONValue] = []
    ) {
        self.mounts = mounts
        self.id = id
        self.name = name
        self.imageID = imageID
        self.imageReference = imageReference
        self.config = config
        self.hostConfig = hostConfig
        self.networks = networks
        self.state = state
        self.restartCount = restartCount
    }

    /// Reads the engine's inspect JSON.
    public init(inspect json: JSONValue) throws(FerryError) {
        guard let id = json["Id"]?.stringValue, let imageID = json["Image"]?.stringValue else {
            throw FerryError(.internal, "the Docker engine's container inspect has no Id or Image")
        }
        let name = json["Name"]?.stringValue ?? ""
        self.init(
            id: id,
            name: name.hasPrefix("/") ? String(name.dropFirst()) : name,
            imageID: imageID,
            imageReference: json["Config"]?["Image"]?.stringValue ?? imageID,
            config: json["Config"] ?? .object([:]),
            hostConfig: json["HostConfig"] ?? .object([:]),
            networks: json["NetworkSettings"]?["Networks"]?.objectValue ?? [:],
            state: DockerContainerState(json["State"] ?? .null),
            restartCount: json["RestartCount"]?.intValue ?? 0,
            mounts: json["Mounts"]?.arrayValue ?? [])
    }

    /// The first 12 characters of the ID, as the engine shows it (and uses as default hostname).
    public var shortID: String { String(id.prefix(12)) }
}

/// `State` of a container inspect.
public struct DockerContainerState: Sendable, Hashable {
    /// `created`, `running`, `paused`, `restarting`, `removing`, `exited` or `dead`.
    public var status: String
    public var running: Bool
    public var restarting: Bool
    public var exitCode: Int
    /// `State.Health.Status` (`starting`, `healthy`, `unhealthy`), nil without a healthcheck.
    public var health: String?
    /// `State.StartedAt`, as the engine writes it.
    public var startedAt: String

    public init(status: String, running: Bool, restarting: Bool = false, exitCode: Int = 0, health: String? = nil, startedAt: String = "") {
        self.status = status
        self.running = running
        self.restarting = restarting
        self.exitCode = exitCode
        self.health = health
        self.startedAt = startedAt
    }

    init(_ json: JSONValue) {
        self.init(
            status: json["Status"]?.stringValue ?? "unknown",
            running: json["Running"]?.boolValue ?? false,
            restarting: json["Restarting"]?.boolValue ?? false,
            exitCode: json["ExitCode"]?.intValue ?? 0,
            health: json["Health"]?["Status"]?.stringValue,
            startedAt: json["StartedAt"]?.stringValue ?? "")
    }
}
