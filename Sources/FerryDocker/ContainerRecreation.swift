import FerryCore
import FerryFormats

/// How a container is recreated from a new image with its own configuration, as Watchtower
/// does (`pkg/container/container.go`, `GetCreateConfig`): everything the user set is carried
/// over; what the container only inherited from its old image's defaults is left out, so the
/// new image's defaults apply. Pure: a function of the inspect JSON of the container and of its
/// old image.
public enum ContainerRecreation {
    /// The body of `POST /containers/create`, and the networks to connect after creating it
    /// (engines before API 1.44 accept one endpoint at create).
    public struct Request: Sendable, Hashable {
        /// `Config` fields + `HostConfig` + `NetworkingConfig`.
        public var body: JSONValue
        /// Further networks and their endpoint settings, connected before the container starts.
        public var laterNetworks: [String: JSONValue]
    }

    /// `Config` fields that come from the image when the container does not set them, each
    /// dropped when it equals the old image's value.
    static let imageDefaultedFields = ["User", "WorkingDir", "StopSignal", "Shell", "OnBuild"]

    /// The create request for `container` (created from an image whose `Config` was
    /// `oldImageConfig`) running `newImage` (whose `Config` is `newImageConfig`) instead.
    public static func request(
        for container: DockerContainer, oldImageConfig: JSONValue, newImage: String, newImageConfig: JSONValue = .object([:])
    ) -> Request {
        let image = oldImageConfig.objectValue ?? [:]
        var config = container.config.objectValue ?? [:]
        var hostConfig = container.hostConfig.objectValue ?? [:]
        let networkMode = hostConfig["NetworkMode"]?.stringValue ?? "default"

        config["Image"] = .string(newImage)
        // The engine names a container's host after its short ID unless told otherwise; a
        // container sharing another's network namespace may not set it at all.
        if config["Hostname"]?.stringValue == container.shortID || networkMode.hasPrefix("container:") {
            config["Hostname"] = nil
        }
        for field in imageDefaultedFields where config[field] == (image[field] ?? .null) || config[field]?.isEmptyValue == true {
            config[field] = nil
        }
        // The engine fills the fields of a HEALTHCHECK the container set in part from its image:
        // only those that differ from the old image's are the user's (the rest come from the new image).
        config["Healthcheck"] = subtracting(config["Healthcheck"], image["Healthcheck"], compareValues: true)
        if config["Healthcheck"]?.isEmptyValue == true { config["Healthcheck"] = nil }
        config["ArgsEscaped"] = nil
        // Entrypoint and Cmd go together: a user-set entrypoint resets the image's Cmd.
        if sameList(config["Entrypoint"], image["Entrypoint"]) {
            config["Entrypoint"] = nil
            if sameList(config["Cmd"], image["Cmd"]) { config["Cmd"] = nil }
        }
        if let env = config["Env"]?.stringArray {
            let inherited = Set(image["Env"]?.stringArray ?? [])
            config["Env"] = .array(env.filter { !inherited.contains($0) }.map(JSONValue.string))
        }
        config["Labels"] = subtracting(config["Labels"], image["Labels"], compareValues: true)
        config["ExposedPorts"] = subtracting(config["ExposedPorts"], image["ExposedPorts"], compareValues: false)
        // The engine publishes only the bindings of exposed ports: a port the user published
        // (`-p 80:8080`) stays exposed even when the new image no longer declares it.
        let published = (hostConfig["PortBindings"]?.objectValue ?? [:]).keys
        if !published.isEmpty {
            var exposed = config["ExposedPorts"]?.objectValue ?? [:]
            for port in published where exposed[port] == nil { exposed[port] = .object([:]) }
            config["ExposedPorts"] = .object(exposed)
        }
        config["Volumes"] = subtracting(config["Volumes"], image["Volumes"], compareValues: false)

        // Anonymous volumes keep their data, as `docker compose up` keeps them when it recreates
        // a container: each one mounted where the new container declares a volume is mounted there again.
        let declared = Set((config["Volumes"]?.objectValue ?? [:]).keys).union((newImageConfig["Volumes"]?.objectValue ?? [:]).keys)
        let binds = hostConfig["Binds"]?.stringArray ?? []
        let kept = namingAnonymousVolumes(binds, of: container) + anonymousVolumes(of: container, declaredAt: declared)
        if kept != binds { hostConfig["Binds"] = .array(kept.map(JSONValue.string)) }
        if let mounts = hostConfig["Mounts"]?.arrayValue {
            let named = namingAnonymousMounts(mounts, of: container)
            if named != mounts { hostConfig["Mounts"] = .array(named) }
        }

        var body = config
        body["HostConfig"] = .object(hostConfig)
        let (first, later) = endpoints(of: container, networkMode: networkMode)
        if let first { body["NetworkingConfig"] = .object(["EndpointsConfig": .object([first.name: first.settings])]) }
        return Request(body: .object(body), laterNetworks: later)
    }

    /// Why `container` cannot be switched at all, or nil: one started with `--rm` (`AutoRemove`)
    /// is deleted by the engine when it stops, so it could not be put back if its new container
    /// failed its gate.
    public static func switchObstacle(for container: DockerContainer) -> String? {
        guard container.hostConfig["AutoRemove"]?.boolValue == true else { return nil }
        return "container \(container.name) was started with --rm: the engine deletes it when it stops, so it could not be put back if the new one failed; recreate it without --rm to roll it"
    }

    /// How long `container` is given to stop before it is killed: its own `--stop-timeout`
    /// (`Config.StopTimeout`, as `docker stop` uses it), else `fallback`.
    public static func stopTimeout(of container: DockerContainer, fallback: Duration) -> Duration {
        guard let seconds = container.config["StopTimeout"]?.intValue, seconds >= 0 else { return fallback }
        return .seconds(seconds)
    }

    /// Why one of `switched` cannot be switched because another container of `all`, running or
    /// not, shares one of its namespaces (`--network`, `--pid` or `--ipc container:NAME`):
    /// recreated, it gets a new ID, and the other cannot start again until it is recreated too.
    /// A switched one counts too: it would be recreated with the old ID. Nil when none does.
    public static func namespaceSharingObstacle(_ switched: [DockerContainer], among all: [DockerContainer]) -> String? {
        for other in all {
            for (field, option) in [("NetworkMode", "network"), ("PidMode", "pid"), ("IpcMode", "ipc")] {
                guard let mode = other.hostConfig[field]?.stringValue, mode.hasPrefix("container:") else { continue }
                let target = String(mode.dropFirst("container:".count))
                // By name, full ID (what the engine records for --network) or short ID.
                guard let shared = switched.first(where: { $0.name == target || (target.count >= 12 && $0.id.hasPrefix(target)) }),
                    shared.name != other.name
                else { continue }
                let name = shared.name
                return "container \(other.name) shares the \(option) namespace of \(name) (--\(option) container:\(name)): recreating \(name) would leave \(other.name) unable to start; remove \(other.name) (docker rm), roll, then create it again"
            }
        }
        return nil
    }

    /// Why the new container cannot start beside the old one (`start-first`), or nil when it can:
    /// a fixed host port, a fixed address or a network namespace the two would share (the
    /// host's, or another container's) cannot be held by both, and a health check run inside
    /// the new one could reach the old one's listener.
    public static func startFirstObstacle(for container: DockerContainer) -> String? {
        let hostConfig = container.hostConfig
        let networkMode = hostConfig["NetworkMode"]?.stringValue ?? "default"
        if networkMode == "host" || networkMode.hasPrefix("container:") {
            let shared = networkMode == "host" ? "the host's network namespace (--network host)" : "the network namespace of \(networkMode.dropFirst("container:".count)) (--network \(networkMode))"
            return "container \(container.name) uses \(shared), where the old and the new container would listen on the same ports at once; use --order stop-first"
        }
        if let bindings = hostConfig["PortBindings"]?.objectValue {
            for (port, hosts) in bindings.sorted(by: { $0.key < $1.key }) {
                for binding in hosts.arrayValue ?? [] {
                    if let hostPort = binding["HostPort"]?.stringValue, !hostPort.isEmpty, hostPort != "0" {
                        return "container \(container.name) binds host port \(hostPort) (\(port)), which the old and the new container cannot hold at once; use --order stop-first"
                    }
                }
            }
        }
        for (network, endpoint) in container.networks.sorted(by: { $0.key < $1.key }) {
            let ipam = endpoint["IPAMConfig"]
            for key in ["IPv4Address", "IPv6Address"] {
                if let address = ipam?[key]?.stringValue, !address.isEmpty {
                    return "container \(container.name) has the fixed address \(address) on network \(network), which the old and the new container cannot hold at once; use --order stop-first"
                }
            }
        }
        return nil
    }

    /// Whether `container` runs an image of `repository` (a `name` such as
    /// `registry:5000/demo/app`, compared after normalising): by the reference it was created from.
    public static func runs(_ container: DockerContainer, repositoryOf repository: ImageReference) -> Bool {
        guard let reference = try? ImageReference(parsing: container.imageReference) else { return false }
        return reference.name == repository.name
    }

    // MARK: Helpers

    /// `binds` with each lone destination (`/data`: an anonymous volume asked for through the
    /// API) replaced by the volume the engine made for it (`NAME:/data`), so its data stays.
    static func namingAnonymousVolumes(_ binds: [String], of container: DockerContainer) -> [String] {
        binds.map { bind in
            guard !bind.contains(":"),
                let mount = container.mounts.first(where: { $0["Type"]?.stringValue == "volume" && $0["Destination"]?.stringValue == bind }),
                let name = mount["Name"]?.stringValue, !name.isEmpty
            else { return bind }
            return volumeBind(name, at: bind, of: mount)
        }
    }

    /// `mounts` (`HostConfig.Mounts`) with each volume mount that names no source
    /// (`--mount type=volume,target=/data`: an anonymous volume) given the volume the engine
    /// made for it, so that the new container mounts the same one and its data stays (left as
    /// it is, the engine would make a fresh, empty one).
    static func namingAnonymousMounts(_ mounts: [JSONValue], of container: DockerContainer) -> [JSONValue] {
        mounts.map { entry in
            guard case .object(var fields) = entry, fields["Type"]?.stringValue == "volume", fields["Source"]?.stringValue?.isEmpty ?? true,
                let target = fields["Target"]?.stringValue.map(Self.cleanPath),
                let mount = container.mounts.first(where: { $0["Type"]?.stringValue == "volume" && $0["Destination"]?.stringValue.map(Self.cleanPath) == target }),
                let name = mount["Name"]?.stringValue, !name.isEmpty
            else { return entry }
            fields["Source"] = .string(name)
            return .object(fields)
        }
    }

    /// `path` as the engine reports a mount's destination: no trailing `/`, no empty or `.` parts
    /// (`--mount dst=/data/` is mounted at `/data`).
    static func cleanPath(_ path: String) -> String {
        "/" + path.split(separator: "/").filter { $0 != "." }.joined(separator: "/")
    }

    /// `NAME:DESTINATION`, with `:ro` when the mount was read-only.
    static func volumeBind(_ name: String, at destination: String, of mount: JSONValue) -> String {
        "\(name):\(destination)" + (mount["RW"]?.boolValue == false ? ":ro" : "")
    }

    /// Binds (`VOLUME:DESTINATION[:ro]`) that mount `container`'s anonymous volumes again, for
    /// those at a destination in `declared`. Volumes the container names itself (binds, mounts)
    /// are carried with `HostConfig`; with `--volumes-from` none is added, as which container a
    /// volume came from cannot be told.
    static func anonymousVolumes(of container: DockerContainer, declaredAt declared: Set<String>) -> [String] {
        let hostConfig = container.hostConfig
        guard hostConfig["VolumesFrom"]?.isEmptyValue ?? true else { return [] }
        var taken: Set<String> = []
        for bind in hostConfig["Binds"]?.stringArray ?? [] {
            // `SOURCE:DESTINATION[:OPTIONS]`, or a lone `DESTINATION` (an anonymous volume given through the API).
            let parts = bind.split(separator: ":", omittingEmptySubsequences: false)
            taken.insert(String(parts.count >= 2 ? parts[1] : parts[0]))
        }
        for mount in hostConfig["Mounts"]?.arrayValue ?? [] {
            if let target = mount["Target"]?.stringValue { taken.insert(target) }
        }
        let ownVolumes = Set((container.config["Volumes"]?.objectValue ?? [:]).keys)
        var binds: [String] = []
        for mount in container.mounts {
            guard mount["Type"]?.stringValue == "volume", let name = mount["Name"]?.stringValue, !name.isEmpty,
                let destination = mount["Destination"]?.stringValue, ownVolumes.contains(destination), declared.contains(destination),
                !taken.contains(destination)
            else { continue }
            binds.append(volumeBind(name, at: destination, of: mount))
        }
        return binds.sorted()
    }

    /// The endpoint to give at create (the network named by the network mode) and the others.
    static func endpoints(
        of container: DockerContainer, networkMode: String
    ) -> (first: (name: String, settings: JSONValue)?, later: [String: JSONValue]) {
        // none, host and container:<id> have no endpoint of their own to configure.
        if networkMode == "none" || networkMode == "host" || networkMode.hasPrefix("container:") { return (nil, [:]) }
        let primary = networkMode == "default" ? "bridge" : networkMode
        var first: (name: String, settings: JSONValue)?
        var later: [String: JSONValue] = [:]
        for (name, endpoint) in container.networks {
            let settings = userSettings(of: endpoint, container: container)
            if name == primary { first = (name, settings) } else { later[name] = settings }
        }
        return (first, later)
    }

    /// What the user set on an endpoint: addresses asked for, aliases (without the container's
    /// short ID, which the engine adds), links, driver options. Assigned addresses, MAC and IDs
    /// are the engine's and are left out.
    static func userSettings(of endpoint: JSONValue, container: DockerContainer) -> JSONValue {
        var settings: [String: JSONValue] = [:]
        if let ipam = endpoint["IPAMConfig"], !ipam.isEmptyValue { settings["IPAMConfig"] = ipam }
        if let links = endpoint["Links"], !links.isEmptyValue { settings["Links"] = links }
        if let driverOptions = endpoint["DriverOpts"], !driverOptions.isEmptyValue { settings["DriverOpts"] = driverOptions }
        let aliases = (endpoint["Aliases"]?.stringArray ?? []).filter { $0 != container.shortID && $0 != container.id }
        if !aliases.isEmpty { settings["Aliases"] = .array(aliases.map(JSONValue.string)) }
        return .object(settings)
    }

    static func sameList(_ a: JSONValue?, _ b: JSONValue?) -> Bool {
        (a?.stringArray ?? []) == (b?.stringArray ?? [])
    }

    /// `fields` without the keys of `inherited` (with equal values when `compareValues`).
    static func subtracting(_ fields: JSONValue?, _ inherited: JSONValue?, compareValues: Bool) -> JSONValue? {
        guard let own = fields?.objectValue else { return fields }
        let base = inherited?.objectValue ?? [:]
        let kept = own.filter { key, value in
            guard let baseValue = base[key] else { return true }
            return compareValues && baseValue != value
        }
        return .object(kept)
    }
}

extension JSONValue {
    /// null, an empty string, array or object.
    var isEmptyValue: Bool {
        switch self {
        case .null: true
        case .string(let value): value.isEmpty
        case .array(let values): values.isEmpty
        case .object(let fields): fields.isEmpty
        default: false
        }
    }
}
