import FerryCore
import FerryTestSupport
import Foundation
import Testing

/// `--config FILE` for the daemons: refused keys and values, precedence, `--print-config`.
@Suite("ferry daemon configuration", .serialized)
struct DaemonConfigTests {
    /// The variables a test sets itself start cleared, whatever the test runner has.
    static let clean = ["FERRY_LEADER": "", "FERRY_TOKEN": "", "FERRY_CONFIG": "", "FERRY_LOG_LEVEL": "", "FERRY_IDLE_TIMEOUT": ""]

    @Test("An unknown key or a bad value is refused with the file, the line and the key", arguments: [
        ("# comment\nlisten = \"127.0.0.1:0\"\nlistn = \"x\"\n", ":3: unknown key 'listn' (did you mean 'listen'?)"),
        ("idle-timeout = \"soon\"\n", ":1: key 'idle-timeout': expected a whole number"),
        ("\n\nlisten = \"nowhere\"\n", ":3: key 'listen': invalid --listen 'nowhere'"),
        ("reserved-space = \"lots\"\n", ":1: key 'reserved-space': invalid size"),
        ("serial-download-size = \"lots\"\n", ":1: key 'serial-download-size': invalid size"),
        ("blob-connections = 0\n", ":1: key 'blob-connections': expected a whole number above 0, found 0"),
        ("log-format = \"xml\"\n", ":1: key 'log-format': expected one of text, json"),
        ("send-timeout = 0\n", ":1: key 'send-timeout': expected a whole number above 0, found 0"),
        ("listen = \n", ":1: "),
    ])
    func refused(text: String, message: String) async throws {
        try await withTemporaryDirectory("config-bad") { dir in
            let file = dir.sub("leader.toml")
            try text.write(toFile: file, atomically: true, encoding: .utf8)
            let result = try await ferry(["leader", "--data-dir", dir.sub("data"), "--config", file], environment: Self.clean)
            CLITests.expectOneLineError(result, containing: file + message)
            #expect(!FileManager.default.fileExists(atPath: dir.sub("data/admin-token")))
        }
    }

    @Test("A bad --serial-download-size, --blob-connections or --send-timeout is refused in one line before anything starts")
    func refusedSerialDownloadSize() async throws {
        try await withTemporaryDirectory("config-serial") { dir in
            let result = try await ferry(["leader", "--data-dir", dir.sub("data"), "--serial-download-size", "lots"], environment: Self.clean)
            CLITests.expectOneLineError(result, containing: "invalid size 'lots'")
            let connections = try await ferry(["leader", "--data-dir", dir.sub("data"), "--blob-connections", "0"], environment: Self.clean)
            CLITests.expectOneLineError(connections, containing: "invalid --blob-connections: expected a whole number above 0, found 0")
            let send = try await ferry(["leader", "--data-dir", dir.sub("data"), "--send-timeout", "-5"], environment: Self.clean)
            CLITests.expectOneLineError(send, containing: "invalid --send-timeout: expected a whole number above 0, found -5")
            #expect(!FileManager.default.fileExists(atPath: dir.sub("data/admin-token")))
        }
    }

    @Test("A --reserved-space of at least the whole disk is warned about at start, naming the file system; a smaller one is not")
    func reserveLargerThanTheDisk() async throws {
        try await withTemporaryDirectory("config-reserve") { dir in
            let leader = try await LeaderProcess.start(dataDirectory: dir.sub("big"), extraArguments: ["--reserved-space", "100000000GiB"])
            await leader.process.stop()
            #expect(leader.process.log.contains("is at least the whole file system holding \(dir.sub("big"))"), "\(leader.process.log.suffix(2000))")
            let small = try await LeaderProcess.start(dataDirectory: dir.sub("small"), extraArguments: ["--reserved-space", "1MiB"])
            await small.process.stop()
            #expect(!small.process.log.contains("is at least the whole file system"))
        }
    }

    @Test("--print-config refuses a bad value given as a flag, as a start would, naming the flag", arguments: [
        (["leader", "--max-upload-rate", "fast"], "invalid --max-upload-rate: invalid"),
        (["leader", "--listen", "bogus"], "ferry: error: invalid --listen 'bogus'"),
        (["leader", "--node-cert-validity", "1s"], "invalid --node-cert-validity: 1s is too short"),
        (["leader", "--load-slot-lease", "1s"], "invalid --load-slot-lease: 1s is too short"),
        (["leader", "--load-slot-lease", "soon"], "invalid --load-slot-lease: invalid time to live 'soon'"),
        (["proxy", "serve", "--tag-ttl=-1"], "invalid --tag-ttl: expected a whole number of 0 or more"),
        (["leader", "--gc-high-watermark", "150%"], "invalid --gc-high-watermark"),
        (["proxy", "serve", "--listen", "bogus"], "invalid --listen"),
    ])
    func printConfigChecksFlags(command: [String], message: String) async throws {
        try await withTemporaryDirectory("config-print-bad") { dir in
            let result = try await ferry(command + ["--data-dir", dir.sub("data"), "--print-config"], environment: Self.clean)
            CLITests.expectOneLineError(result, containing: message)
            #expect(!result.stdout.contains("listen ="), "nothing printed: \(result.stdout)")
        }
    }

    @Test("A bad FERRY_* value is refused naming the variable; a missing file is named")
    func refusedEnvironmentAndMissingFile() async throws {
        try await withTemporaryDirectory("config-env") { dir in
            var environment = Self.clean
            environment["FERRY_IDLE_TIMEOUT"] = "soon"
            CLITests.expectOneLineError(
                try await ferry(["leader", "--data-dir", dir.sub("data")], environment: environment), containing: "FERRY_IDLE_TIMEOUT")
            CLITests.expectOneLineError(
                try await ferry(["leader", "--data-dir", dir.sub("data"), "--config", dir.sub("none.toml")], environment: Self.clean),
                containing: "cannot read configuration file \(dir.sub("none.toml"))")
        }
    }

    @Test("Flags beat FERRY_* variables, which beat the file, which beats the defaults")
    func precedence() async throws {
        try await withTemporaryDirectory("config-order") { dir in
            let file = dir.sub("leader.toml")
            try """
                data-dir = "\(dir.sub("data"))"
                listen = "127.0.0.1:1111"
                idle-timeout = 10
                log-level = "warning"
                tls-name = ["file.example"]
                no-peers = true
                """.write(toFile: file, atomically: true, encoding: .utf8)
            var environment = Self.clean
            environment["FERRY_IDLE_TIMEOUT"] = "20"
            environment["FERRY_LOG_LEVEL"] = "error"
            environment["FERRY_CONFIG"] = file
            let result = try await ferry(["leader", "--log-level", "debug", "--tls-name", "flag.example", "--print-config"], environment: environment)
            #expect(result.status == 0, "\(result.stderr)")
            let lines = Set(result.stdout.split(separator: "\n").map(String.init))
            #expect(lines.contains("data-dir = \"\(dir.sub("data"))\""))
            #expect(lines.contains("listen = \"127.0.0.1:1111\""))  // the file
            #expect(lines.contains("idle-timeout = 20"))  // the environment over the file
            #expect(lines.contains("log-level = \"debug\""))  // the flag over both
            #expect(lines.contains("tls-name = [\"flag.example\"]"))  // a flag's list replaces the file's
            #expect(lines.contains("no-peers = true"))
            #expect(lines.contains("upload-limit = 8") || lines.contains(where: { $0.hasPrefix("upload-limit = ") }))  // a default
            #expect(lines.contains("# registry-auth: not set"))
            // Nothing started: no data directory.
            #expect(!FileManager.default.fileExists(atPath: dir.sub("data")))

            // The printed configuration is a valid configuration giving the same result.
            let printed = dir.sub("printed.toml")
            try result.stdout.write(toFile: printed, atomically: true, encoding: .utf8)
            let again = try await ferry(["leader", "--config", printed, "--print-config"], environment: Self.clean)
            #expect(again.status == 0, "\(again.stderr)")
            #expect(again.stdout == result.stdout)
        }
    }

    @Test("--print-config redacts tokens, not the paths of secret files")
    func printConfigRedactsSecrets() async throws {
        try await withTemporaryDirectory("config-secret") { dir in
            let file = dir.sub("follower.toml")
            try """
                data-dir = "\(dir.sub("data"))"
                leader = "https://127.0.0.1:5050"
                join-token = "s3cret-join-token"
                join-token-file = "/etc/ferry/join-token"
                """.write(toFile: file, atomically: true, encoding: .utf8)
            let result = try await ferry(["follower", "--config", file, "--print-config"], environment: Self.clean)
            #expect(result.status == 0, "\(result.stderr)")
            #expect(!result.stdout.contains("s3cret"))
            #expect(result.stdout.contains("join-token = \"<redacted>\""))
            #expect(result.stdout.contains("join-token-file = \"/etc/ferry/join-token\""))
            var environment = Self.clean
            environment["FERRY_JOIN_TOKEN"] = "env-s3cret"
            let fromEnvironment = try await ferry(["follower", "--config", file, "--print-config"], environment: environment)
            #expect(!fromEnvironment.stdout.contains("s3cret"))
        }
    }

    @Test("A leader runs from a configuration file and logs JSON lines with metadata")
    func leaderFromFileWithJSONLogs() async throws {
        try await withTemporaryDirectory("config-run") { dir in
            let file = dir.sub("leader.toml")
            try "log-format = \"json\"\nidle-timeout = 30\n".write(toFile: file, atomically: true, encoding: .utf8)
            let leader = try await LeaderProcess.start(dataDirectory: dir.sub("leader"), extraArguments: ["--config", file])
            let health = try? await ferry(["images", "--data-dir", leader.dataDirectory])
            await leader.process.stop()
            #expect(health?.status == 0, "\(health?.stderr ?? "")")
            let lines = leader.process.log.split(separator: "\n").filter { !$0.isEmpty }
            #expect(!lines.isEmpty)
            for line in lines {
                let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
                #expect(object?["level"] is String, "\(line)")
                #expect(object?["message"] is String, "\(line)")
            }
            // The listening line carries its URL as metadata.
            #expect(lines.contains { line in
                let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
                return (object?["metadata"] as? [String: Any])?["url"] as? String == leader.url
            })
        }
    }

    @Test("Every long option of the daemons is a key of their configuration file", arguments: ["leader", "follower", "proxy serve"])
    func everyOptionHasAKey(role: String) async throws {
        try await withTemporaryDirectory("config-keys") { dir in
            let command = role.split(separator: " ").map(String.init)
            // Options that are about the command itself, not the daemon's settings; and a hidden test hook.
            let notSettings: Set<String> = ["config", "print-config", "help", "version", "mesh-protocol"]
            let help = try await ferry(command + ["--help"], environment: Self.clean)
            // The options as ArgumentParser lists them: one per line, indented, after an optional short name.
            let options = Set(help.stdout.matches(of: /(?m)^\s+(?:-[a-zA-Z], )?--([a-z][a-z0-9-]+)/).map { String($0.1) }).subtracting(notSettings)
            #expect(options.contains("data-dir") && options.contains("log-level"), "\(help.stdout)")
            let leaderURL = role == "follower" ? ["--leader", "https://leader.example:5050"] : []
            let printed = try await ferry(command + ["--data-dir", dir.sub("data")] + leaderURL + ["--print-config"], environment: Self.clean)
            #expect(printed.status == 0, "\(printed.stderr)")
            let keys = Set(printed.stdout.matches(of: /(?m)^#? ?([a-z][a-z0-9-]+)(?: =|: not set)/).map { String($0.1) })
            #expect(options.subtracting(keys).isEmpty, "\(role): options with no configuration key: \(options.subtracting(keys).sorted())")
        }
    }
}
