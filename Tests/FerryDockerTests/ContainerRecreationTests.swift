import FerryCore
import FerryDocker
import FerryFormats
import Foundation
import Testing

/// The config carry-over as a pure function of inspect JSON (shapes as dockerd 20.10 writes them).
@Suite("Container recreation from inspect JSON")
struct ContainerRecreationTests {
    static let oldImageConfig = """
        {"User":"","Env":["PATH=/bin","APP_MODE=default"],"Cmd":["/bin/sh","-c","serve"],"Entrypoint":null,
         "WorkingDir":"/srv","Labels":{"vendor":"acme","version":"1.0"},"ExposedPorts":{"8080/tcp":{}},
         "Volumes":{"/data":{}},"Healthcheck":{"Test":["CMD-SHELL","true"],"Interval":1000000000},"StopSignal":"SIGTERM"}
        """

    static func inspect(
        config: String = "", hostConfig: String = #"{"NetworkMode":"default","RestartPolicy":{"Name":"always","MaximumRetryCount":0}}"#,
        networks: String = #"{"bridge":{"IPAMConfig":null,"Links":null,"Aliases":null,"NetworkID":"n1","EndpointID":"e1","IPAddress":"172.17.0.2","MacAddress":"02:42:ac:11:00:02"}}"#,
        mounts: String = "[]"
    ) throws -> DockerContainer {
        let configJSON = config.isEmpty
            ? """
            {"Hostname":"0123456789ab","Domainname":"","User":"","Tty":false,"Env":["PATH=/bin","APP_MODE=default","TOKEN=x"],
             "Cmd":["/bin/sh","-c","serve"],"Entrypoint":null,"WorkingDir":"/srv","Image":"reg:5000/demo/app:1.0",
             "Labels":{"vendor":"acme","version":"1.0","team":"ops"},"ExposedPorts":{"8080/tcp":{}},"Volumes":{"/data":{}},
             "Healthcheck":{"Test":["CMD-SHELL","true"],"Interval":1000000000},"StopSignal":"SIGTERM","OnBuild":null}
            """ : config
        let text = """
            {"Id":"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef","Name":"/web","Image":"sha256:old",
             "Config":\(configJSON),"HostConfig":\(hostConfig),"NetworkSettings":{"Networks":\(networks)},
             "State":{"Status":"running","Running":true,"Restarting":false,"ExitCode":0,"StartedAt":"t"},"RestartCount":0,
             "Mounts":\(mounts)}
            """
        return try DockerContainer(inspect: try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8)))
    }

    static var imageConfig: JSONValue { get throws { try JSONDecoder().decode(JSONValue.self, from: Data(oldImageConfig.utf8)) } }

    @Test("image defaults are left out, user settings kept, HostConfig carried whole")
    func carryOver() throws {
        let container = try Self.inspect()
        #expect(container.name == "web" && container.shortID == "0123456789ab" && container.imageReference == "reg:5000/demo/app:1.0")
        let request = ContainerRecreation.request(for: container, oldImageConfig: try Self.imageConfig, newImage: "reg:5000/demo/app:1.1")
        let body = request.body
        #expect(body["Image"] == .string("reg:5000/demo/app:1.1"))
        #expect(body["Env"]?.stringArray == ["TOKEN=x"])
        #expect(body["Labels"] == .object(["team": .string("ops")]))
        #expect(body["Cmd"] == nil && body["Entrypoint"] == nil)
        #expect(body["WorkingDir"] == nil && body["Healthcheck"] == nil && body["StopSignal"] == nil && body["User"] == nil)
        #expect(body["ExposedPorts"] == .object([:]) && body["Volumes"] == .object([:]))
        #expect(body["Hostname"] == nil)  // the engine's default, the old short ID
        #expect(body["Tty"] == .bool(false) && body["Domainname"] == .string(""))
        #expect(body["HostConfig"] == container.hostConfig)
        #expect(body["HostConfig"]?["RestartPolicy"]?["Name"] == .string("always"))
        // The default bridge endpoint, with nothing the engine assigned.
        #expect(body["NetworkingConfig"] == .object(["EndpointsConfig": .object(["bridge": .object([:])])]))
        #expect(request.laterNetworks.isEmpty)
    }

    @Test("a user-set command, entrypoint, workdir, user and overridden label survive")
    func userOverrides() throws {
        let config = """
            {"Hostname":"myhost","User":"1000","Env":["PATH=/bin","APP_MODE=custom"],"Cmd":["sleep","1000"],"Entrypoint":null,
             "WorkingDir":"/work","Image":"reg:5000/demo/app:1.0","Labels":{"vendor":"acme","version":"custom"},
             "Healthcheck":{"Test":["NONE"]}}
            """
        let container = try Self.inspect(config: config)
        let body = ContainerRecreation.request(for: container, oldImageConfig: try Self.imageConfig, newImage: "n").body
        #expect(body["Cmd"]?.stringArray == ["sleep", "1000"])
        #expect(body["Entrypoint"] == nil)
        #expect(body["Env"]?.stringArray == ["APP_MODE=custom"])
        #expect(body["Labels"] == .object(["version": .string("custom")]))
        #expect(body["WorkingDir"] == .string("/work") && body["User"] == .string("1000") && body["Hostname"] == .string("myhost"))
        #expect(body["Healthcheck"]?["Test"]?.stringArray == ["NONE"])

        // A user-set entrypoint keeps the Cmd that went with it, even the image's.
        let withEntrypoint = try Self.inspect(config: #"{"Entrypoint":["/bin/tini"],"Cmd":["/bin/sh","-c","serve"],"Image":"x"}"#)
        let second = ContainerRecreation.request(for: withEntrypoint, oldImageConfig: try Self.imageConfig, newImage: "n").body
        #expect(second["Entrypoint"]?.stringArray == ["/bin/tini"] && second["Cmd"]?.stringArray == ["/bin/sh", "-c", "serve"])
    }

    @Test("a HEALTHCHECK set in part keeps only the user's fields: the rest come from the new image")
    func partialHealthcheck() throws {
        // `docker run --health-interval 2s` on an image whose check is `true` every 1 s: the
        // engine stores the image's test with the user's interval.
        let config = """
            {"Image":"reg:5000/demo/app:1.0","Healthcheck":{"Test":["CMD-SHELL","true"],"Interval":2000000000,"Retries":0}}
            """
        let body = ContainerRecreation.request(for: try Self.inspect(config: config), oldImageConfig: try Self.imageConfig, newImage: "n").body
        #expect(body["Healthcheck"] == .object(["Interval": .number(2_000_000_000), "Retries": .number(0)]), "\(body["Healthcheck"] ?? .null)")
        // All of it the image's: none is set, so the new image's check applies whole.
        let inherited = """
            {"Image":"reg:5000/demo/app:1.0","Healthcheck":{"Test":["CMD-SHELL","true"],"Interval":1000000000}}
            """
        #expect(ContainerRecreation.request(for: try Self.inspect(config: inherited), oldImageConfig: try Self.imageConfig, newImage: "n").body["Healthcheck"] == nil)
    }

    @Test("anonymous volumes are mounted again where the new container declares a volume; named ones and binds ride with HostConfig")
    func anonymousVolumes() throws {
        let config = #"{"Image":"reg:5000/demo/app:1.0","Volumes":{"/data":{},"/state":{},"/db":{}}}"#
        let hostConfig = #"{"NetworkMode":"none","Binds":["db:/db","/etc/app:/cfg:ro"],"Mounts":[{"Type":"volume","Source":"cache","Target":"/cache"}]}"#
        let mounts = """
            [{"Type":"volume","Name":"\(String(repeating: "a", count: 64))","Destination":"/data","RW":true},
             {"Type":"volume","Name":"\(String(repeating: "b", count: 64))","Destination":"/state","RW":false},
             {"Type":"volume","Name":"db","Destination":"/db","RW":true},
             {"Type":"volume","Name":"cache","Destination":"/cache","RW":true},
             {"Type":"bind","Source":"/etc/app","Destination":"/cfg","RW":false}]
            """
        let container = try Self.inspect(config: config, hostConfig: hostConfig, mounts: mounts)
        #expect(container.mounts.count == 5)
        // /data is the old image's VOLUME, /state the user's `-v /state:ro`.
        let newImage = try JSONDecoder().decode(JSONValue.self, from: Data(#"{"Volumes":{"/data":{}}}"#.utf8))
        let body = ContainerRecreation.request(for: container, oldImageConfig: try Self.imageConfig, newImage: "n", newImageConfig: newImage).body
        #expect(
            body["HostConfig"]?["Binds"]?.stringArray
                == ["db:/db", "/etc/app:/cfg:ro", "\(String(repeating: "a", count: 64)):/data", "\(String(repeating: "b", count: 64)):/state:ro"])
        #expect(body["HostConfig"]?["Mounts"] == container.hostConfig["Mounts"])
        // A new image without VOLUME /data: the old image's volume stays behind, the user's goes on.
        let bare = ContainerRecreation.request(for: container, oldImageConfig: try Self.imageConfig, newImage: "n").body
        #expect(bare["HostConfig"]?["Binds"]?.stringArray == ["db:/db", "/etc/app:/cfg:ro", "\(String(repeating: "b", count: 64)):/state:ro"])
        // With --volumes-from, which container a volume came from cannot be told: nothing is added.
        let shared = try Self.inspect(config: config, hostConfig: #"{"NetworkMode":"none","VolumesFrom":["other"]}"#, mounts: mounts)
        #expect(ContainerRecreation.request(for: shared, oldImageConfig: try Self.imageConfig, newImage: "n", newImageConfig: newImage).body["HostConfig"]?["Binds"] == nil)
        // A lone destination in Binds (an anonymous volume created through the API) names its
        // volume instead (kept alone it would be a fresh, empty one; added beside it, a duplicate
        // mount point the engine refuses).
        let lone = try Self.inspect(config: config, hostConfig: #"{"NetworkMode":"none","Binds":["/data"]}"#, mounts: mounts)
        #expect(
            ContainerRecreation.request(for: lone, oldImageConfig: try Self.imageConfig, newImage: "n", newImageConfig: newImage).body["HostConfig"]?["Binds"]?.stringArray
                == ["\(String(repeating: "a", count: 64)):/data", "\(String(repeating: "b", count: 64)):/state:ro", "db:/db"])
    }

    @Test("an anonymous volume asked for with --mount type=volume (no source) is mounted again by the name the engine gave it")
    func anonymousVolumeMounts() throws {
        let anonymous = String(repeating: "c", count: 64)
        let hostConfig = """
            {"NetworkMode":"none","Mounts":[{"Type":"volume","Target":"/scratch/","ReadOnly":true},{"Type":"volume","Source":"cache","Target":"/cache"},
             {"Type":"tmpfs","Target":"/tmp"}]}
            """
        let mounts = """
            [{"Type":"volume","Name":"\(anonymous)","Destination":"/scratch","RW":false},
             {"Type":"volume","Name":"cache","Destination":"/cache","RW":true},{"Type":"tmpfs","Destination":"/tmp"}]
            """
        let container = try Self.inspect(config: #"{"Image":"reg:5000/demo/app:1.0"}"#, hostConfig: hostConfig, mounts: mounts)
        let body = ContainerRecreation.request(for: container, oldImageConfig: try Self.imageConfig, newImage: "n").body
        let carried = body["HostConfig"]?["Mounts"]?.arrayValue ?? []
        #expect(carried.count == 3)
        #expect(carried.first?["Source"]?.stringValue == anonymous && carried.first?["ReadOnly"]?.boolValue == true, "\(carried)")
        #expect(carried.dropFirst().map { $0 } == container.hostConfig["Mounts"]?.arrayValue?.dropFirst().map { $0 }, "named volumes and tmpfs as they were")
    }

    @Test("--network none and container: modes carry no endpoint; user networks keep aliases, not the engine's")
    func networks() throws {
        let none = try Self.inspect(
            hostConfig: #"{"NetworkMode":"none"}"#, networks: #"{"none":{"NetworkID":"x","IPAddress":""}}"#)
        #expect(ContainerRecreation.request(for: none, oldImageConfig: .object([:]), newImage: "n").body["NetworkingConfig"] == nil)

        let joined = try Self.inspect(hostConfig: #"{"NetworkMode":"container:abc"}"#, networks: "{}")
        let body = ContainerRecreation.request(for: joined, oldImageConfig: .object([:]), newImage: "n").body
        #expect(body["NetworkingConfig"] == nil && body["Hostname"] == nil)

        let user = try Self.inspect(
            hostConfig: #"{"NetworkMode":"front"}"#,
            networks: """
                {"front":{"Aliases":["web","0123456789ab"],"IPAMConfig":{"IPv4Address":"10.0.0.5"},"IPAddress":"10.0.0.5"},
                 "back":{"Aliases":["0123456789ab","api"],"IPAMConfig":null,"DriverOpts":null}}
                """)
        let request = ContainerRecreation.request(for: user, oldImageConfig: .object([:]), newImage: "n")
        #expect(
            request.body["NetworkingConfig"]
                == .object([
                    "EndpointsConfig": .object([
                        "front": .object(["Aliases": .array([.string("web")]), "IPAMConfig": .object(["IPv4Address": .string("10.0.0.5")])])
                    ])
                ]))
        #expect(request.laterNetworks == ["back": .object(["Aliases": .array([.string("api")])])])
        #expect(ContainerRecreation.startFirstObstacle(for: user)?.contains("fixed address 10.0.0.5") == true)
    }

    @Test("start-first is refused with a host port, allowed with an ephemeral one")
    func startFirstObstacle() throws {
        let fixed = try Self.inspect(hostConfig: #"{"NetworkMode":"default","PortBindings":{"8080/tcp":[{"HostIp":"","HostPort":"80"}]}}"#)
        let reason = try #require(ContainerRecreation.startFirstObstacle(for: fixed))
        #expect(reason.contains("host port 80") && reason.contains("stop-first"))
        let ephemeral = try Self.inspect(hostConfig: #"{"NetworkMode":"default","PortBindings":{"8080/tcp":[{"HostIp":"","HostPort":""}]}}"#)
        #expect(ContainerRecreation.startFirstObstacle(for: ephemeral) == nil)
        #expect(ContainerRecreation.startFirstObstacle(for: try Self.inspect()) == nil)
        #expect(ContainerRecreation.startFirstObstacle(for: try Self.inspect(hostConfig: #"{"NetworkMode":"bridge"}"#)) == nil)
        // A network namespace the old and new container would share: the host's or another container's.
        let host = try #require(ContainerRecreation.startFirstObstacle(for: try Self.inspect(hostConfig: #"{"NetworkMode":"host"}"#)))
        #expect(host.contains("--network host") && host.contains("stop-first"))
        let joined = try #require(ContainerRecreation.startFirstObstacle(for: try Self.inspect(hostConfig: #"{"NetworkMode":"container:db"}"#)))
        #expect(joined.contains("--network container:db") && joined.contains("stop-first"))
    }

    @Test("a published port stays exposed when the new image drops its EXPOSE")
    func publishedPortsStayExposed() throws {
        let published = try Self.inspect(
            hostConfig: #"{"NetworkMode":"default","PortBindings":{"8080/tcp":[{"HostIp":"","HostPort":"80"}],"9090/udp":[{"HostIp":"","HostPort":""}]}}"#)
        let body = ContainerRecreation.request(for: published, oldImageConfig: try Self.imageConfig, newImage: "reg:5000/demo/app:1.1").body
        // 8080/tcp came from the old image's EXPOSE, 9090/udp from nothing but -p: both published.
        #expect(body["ExposedPorts"] == .object(["8080/tcp": .object([:]), "9090/udp": .object([:])]))
        #expect(body["HostConfig"] == published.hostConfig)
    }

    @Test("a --rm container is not switched; a container's own --stop-timeout is used")
    func autoRemoveAndStopTimeout() throws {
        let removing = try Self.inspect(hostConfig: #"{"NetworkMode":"default","AutoRemove":true}"#)
        #expect(ContainerRecreation.switchObstacle(for: removing)?.contains("--rm") == true)
        #expect(ContainerRecreation.switchObstacle(for: try Self.inspect(hostConfig: #"{"NetworkMode":"default","AutoRemove":false}"#)) == nil)
        #expect(ContainerRecreation.switchObstacle(for: try Self.inspect()) == nil)
        #expect(ContainerRecreation.stopTimeout(of: try Self.inspect(), fallback: .seconds(10)) == .seconds(10))
        let patient = try Self.inspect(config: #"{"Image":"reg:5000/demo/app:1.0","StopTimeout":30}"#)
        #expect(ContainerRecreation.stopTimeout(of: patient, fallback: .seconds(10)) == .seconds(30))
    }

    @Test("containers match by repository, whatever the tag or digest")
    func matching() throws {
        let container = try Self.inspect()
        #expect(ContainerRecreation.runs(container, repositoryOf: try ImageReference(parsing: "reg:5000/demo/app:1.1")))
        #expect(!ContainerRecreation.runs(container, repositoryOf: try ImageReference(parsing: "reg:5000/demo/other:1.0")))
        #expect(!ContainerRecreation.runs(container, repositoryOf: try ImageReference(parsing: "demo/app:1.0")))
    }

    @Test("whole numbers encode as integers for the engine")
    func integers() throws {
        let value = JSONValue.object(["Memory": .number(536_870_912), "CpuShares": .number(0), "Ratio": .number(0.5)])
        let text = String(decoding: try JSONEncoder().encode(value), as: UTF8.self)
        #expect(text.contains("\"Memory\":536870912") && text.contains("\"CpuShares\":0") && text.contains("\"Ratio\":0.5"))
    }
}

@Suite("Health gate")
struct HealthGateTests {
    static let running = DockerContainerState(status: "running", running: true)

    @Test("without a HEALTHCHECK: running for --min-healthy passes; an exit or restart fails")
    func minHealthy() {
        let gate = HealthGate(hasHealthcheck: false, minHealthy: .seconds(10), healthyDeadline: .seconds(60))
        #expect(gate.verdict(state: Self.running, restarts: 0, elapsed: .seconds(9)) == .waiting)
        #expect(gate.verdict(state: Self.running, restarts: 0, elapsed: .seconds(10)) == .passed)
        #expect(
            gate.verdict(state: Self.running, restarts: 2, elapsed: .seconds(11))
                == .failed("the new container exited and its restart policy restarted it 2 times (now running); it was removed: run the new image by hand (`docker run`) to see its output"))
        let exited = DockerContainerState(status: "exited", running: false, exitCode: 3)
        #expect(gate.verdict(state: exited, restarts: 0, elapsed: .seconds(1)) == .failed("the new container exited with code 3; it was removed: run the new image by hand (`docker run`) to see its output"))
    }

    @Test("with a HEALTHCHECK: healthy passes, unhealthy or the deadline fails")
    func healthcheck() {
        let gate = HealthGate(hasHealthcheck: true, minHealthy: .seconds(10), healthyDeadline: .seconds(5))
        var state = Self.running
        state.health = "starting"
        #expect(gate.verdict(state: state, restarts: 0, elapsed: .seconds(4)) == .waiting)
        #expect(gate.verdict(state: state, restarts: 0, elapsed: .seconds(5)) == .failed("the new container was not healthy within 5s"))
        state.health = "healthy"
        #expect(gate.verdict(state: state, restarts: 0, elapsed: .seconds(1)) == .passed)
        state.health = "unhealthy"
        #expect(gate.verdict(state: state, restarts: 0, elapsed: .seconds(1)) != .passed)
        #expect(HealthGate.hasHealthcheck(test: ["CMD-SHELL", "true"]) && !HealthGate.hasHealthcheck(test: ["NONE"]) && !HealthGate.hasHealthcheck(test: nil))
    }
}
