import FerryCore
import Testing

@testable import FerryConfig

@Suite("Configuration file")
struct ConfigFileTests {
    static let options: [ConfigOption] = [
        ConfigOption("listen", .string, check: { text throws(FerryError) in
            guard text.contains(":") else { throw FerryError(.configuration, "expected HOST:PORT") }
        }),
        ConfigOption("idle-timeout", .integer),
        ConfigOption("insecure-mesh", .flag),
        ConfigOption("tls-name", .list),
        ConfigOption("join-token", .string, secret: true),
    ]

    static func parse(_ text: String) throws(FerryError) -> [String: ConfigValue] {
        try ConfigFile.parse(text, path: "/etc/ferry/leader.toml", options: options)
    }

    @Test func everyKindOfValueIsRead() throws {
        let values = try Self.parse("""
            # a comment
            listen = "127.0.0.1:5050"
            idle-timeout = 30
            insecure-mesh = true
            tls-name = ["a.example", "10.0.0.1"]
            """)
        #expect(values == [
            "listen": .string("127.0.0.1:5050"), "idle-timeout": .integer(30), "insecure-mesh": .flag(true),
            "tls-name": .list(["a.example", "10.0.0.1"]),
        ])
        // A single string for a repeatable key is a list of one.
        #expect(try Self.parse("tls-name = \"a\"") == ["tls-name": .list(["a"])])
    }

    @Test func anUnknownKeyIsRefusedNamingFileLineAndKey() {
        #expect(throws: FerryError(.configuration, "/etc/ferry/leader.toml:3: unknown key 'listn' (did you mean 'listen'?)")) {
            try Self.parse("idle-timeout = 30\n\nlistn = \"x:1\"\n")
        }
        #expect(throws: FerryError(.configuration, "/etc/ferry/leader.toml:2: unknown key 'gc'")) {
            try Self.parse("idle-timeout = 30\n[gc]\nkeep = 1\n")
        }
    }

    @Test func aBadValueIsRefusedNamingFileLineAndKey() {
        #expect(throws: FerryError(.configuration, "/etc/ferry/leader.toml:2: key 'idle-timeout': expected a whole number, found a string")) {
            try Self.parse("listen = \"a:1\"\n  idle-timeout = \"soon\"\n")
        }
        #expect(throws: FerryError(.configuration, "/etc/ferry/leader.toml:1: key 'listen': expected HOST:PORT")) {
            try Self.parse("listen = \"nowhere\"\n")
        }
        #expect(throws: FerryError(.configuration, "/etc/ferry/leader.toml:1: key 'insecure-mesh': expected true or false, found a string")) {
            try Self.parse("insecure-mesh = \"yes\"")
        }
        // The earliest line is reported, whatever order the parser keeps keys in.
        #expect(throws: FerryError(.configuration, "/etc/ferry/leader.toml:1: unknown key 'zzz'")) {
            try Self.parse("zzz = 1\naaa = 2\n")
        }
    }

    @Test func aSyntaxErrorNamesTheLine() {
        do {
            _ = try Self.parse("listen = \"a:1\"\nidle-timeout = \n")
            Issue.record("parsed")
        } catch {
            #expect(error.message.hasPrefix("/etc/ferry/leader.toml:2: "), "\(error.message)")
        }
    }

    @Test func keysAreFoundInTheText() {
        let text = "a = 1\n  \"b\" = 2\n[c]\nd.e = 3\n"
        #expect(ConfigFile.line(ofKey: "a", in: text) == 1)
        #expect(ConfigFile.line(ofKey: "b", in: text) == 2)
        #expect(ConfigFile.line(ofKey: "c", in: text) == 3)
        #expect(ConfigFile.line(ofKey: "d", in: text) == 4)
        #expect(ConfigFile.line(ofKey: "ab", in: text) == nil)
    }
}

@Suite("Configuration precedence")
struct ConfigMergeTests {
    static let options = ConfigFileTests.options

    @Test func flagsBeatTheEnvironmentWhichBeatsTheFile() throws {
        let file: [String: ConfigValue] = ["listen": .string("f:1"), "idle-timeout": .integer(10), "tls-name": .list(["file"])]
        let environment = try ConfigEnvironment.values(["FERRY_IDLE_TIMEOUT": "20", "FERRY_LISTEN": "", "FERRY_OTHER": "x"], options: Self.options)
        #expect(environment == ["idle-timeout": .integer(20)])
        let merged = ConfigMerge.arguments(
            commandLine: ["--tls-name", "flag", "--data-dir", "/d"], environment: environment, file: file, options: Self.options)
        // The file's listen, the environment's timeout; the flag's list replaces the file's.
        #expect(merged == ["--listen=f:1", "--idle-timeout=20", "--tls-name", "flag", "--data-dir", "/d"])
    }

    @Test func flagsAndListsBecomeArguments() {
        let merged = ConfigMerge.arguments(
            commandLine: [], environment: [:],
            file: ["insecure-mesh": .flag(true), "tls-name": .list(["a", "b"])], options: Self.options)
        #expect(merged == ["--insecure-mesh", "--tls-name=a", "--tls-name=b"])
        #expect(ConfigMerge.arguments(commandLine: [], environment: [:], file: ["insecure-mesh": .flag(false)], options: Self.options) == [])
    }

    @Test func aBadEnvironmentValueNamesTheVariable() throws {
        #expect(throws: FerryError(.configuration, "invalid FERRY_IDLE_TIMEOUT=soon: expected a whole number")) {
            try ConfigEnvironment.values(["FERRY_IDLE_TIMEOUT": "soon"], options: Self.options)
        }
        #expect(throws: FerryError(.configuration, "invalid FERRY_LISTEN: expected HOST:PORT")) {
            try ConfigEnvironment.values(["FERRY_LISTEN": "nowhere"], options: Self.options)
        }
        #expect(try ConfigEnvironment.values(["FERRY_TLS_NAME": "a, b"], options: Self.options) == ["tls-name": .list(["a", "b"])])
    }

    @Test func theConfigFlagIsFound() {
        #expect(ConfigMerge.value(of: "--config", in: ["--config", "/a", "--x"]) == "/a")
        #expect(ConfigMerge.value(of: "--config", in: ["--config=/b"]) == "/b")
        #expect(ConfigMerge.value(of: "--config", in: ["--", "--config=/b"]) == nil)
        #expect(ConfigMerge.givesOption(["--listen=1:2"], Self.options[0]))
        #expect(!ConfigMerge.givesOption(["--listener"], Self.options[0]))
    }

    @Test func printedConfigurationRedactsSecretsAndReadsBack() throws {
        let text = ConfigRender.toml([
            (Self.options[0], .string("0.0.0.0:5050")), (Self.options[1], .integer(75)), (Self.options[2], .flag(false)),
            (Self.options[3], .list(["a\"b"])), (Self.options[4], .string("s3cret")),
        ])
        #expect(!text.contains("s3cret"))
        #expect(text.contains("join-token = \"<redacted>\""))
        #expect(ConfigRender.toml([(Self.options[4], nil)]) == "# join-token: not set\n")
        let back = try ConfigFile.parse(text, path: "p", options: Self.options)
        #expect(back["tls-name"] == .list(["a\"b"]))
        #expect(back["listen"] == .string("0.0.0.0:5050"))
    }
}
