import FerryCore
import FerryRegistry
import Foundation

/// containerd's registry host configuration (`DIR/<registry>/hosts.toml`, containerd
/// `docs/hosts.md`) that makes the node's own follower the mirror of every registry the node's
/// images come from: containerd asks the follower first (`pull` and `resolve`, so tags too) and
/// goes to the upstream `server` only when the follower does not answer.
///
/// The mirror is the follower's loopback registry (`http://127.0.0.1:PORT`, bound to loopback
/// only), with the node's credential as an `Authorization` header: the node's certificate holds
/// DNS names only (see ``ClusterCA``), so an `https://127.0.0.1` mirror would fail containerd's
/// hostname check. The file holds the credential, so it is written with mode 0600.
struct ContainerdHosts: Sendable, Equatable {
    /// The upstream registry host (`docker.io`, `registry.example.com:5000`).
    var registry: String
    /// The follower's loopback registry, e.g. `http://127.0.0.1:5052`.
    var mirrorURL: String
    /// The node credential, sent as `Authorization: Bearer …`.
    var credential: String
    /// A CA file to trust for an `https://` mirror; nil for the loopback one.
    var caFile: String? = nil
    /// The registry speaks plain HTTP (`--insecure-registry`; loopback hosts always count).
    var plainHTTP: Bool = false

    /// The upstream containerd falls back to: Docker Hub's API host for `docker.io`, else
    /// `http://<registry>` for a loopback or plain-HTTP registry (as Docker and Ferry's own
    /// registry client reach them), else `https://<registry>`.
    var server: String {
        if registry == ImageReference.dockerHub { return "https://registry-1.docker.io" }
        return (plainHTTP || RegistryClientConfiguration.isLoopback(registry) ? "http://" : "https://") + registry
    }

    /// The directory name under the hosts directory: the registry host as containerd looks it up.
    var directoryName: String { registry }

    /// The `hosts.toml` text.
    var text: String {
        var lines = [
            "# Written by ferry follower: this node's follower is the mirror of \(Self.quoted(registry)).",
            "server = \(Self.quoted(server))",
            "",
            "[host.\(Self.quoted(mirrorURL))]",
            "  capabilities = [\"pull\", \"resolve\"]",
        ]
        if let caFile { lines.append("  ca = \(Self.quoted(caFile))") }
        lines += [
            "",
            "[host.\(Self.quoted(mirrorURL)).header]",
            "  Authorization = \(Self.quoted("Bearer " + credential))",
        ]
        return lines.joined(separator: "\n") + "\n"
    }

    /// A TOML basic string.
    static func quoted(_ text: String) -> String { QuotedString.literal(text) }

    /// Writes `directory/<registry>/hosts.toml` (mode 0600) atomically, unless it already holds
    /// exactly this text. Returns whether it wrote.
    @discardableResult
    func write(under directory: String) throws(FerryError) -> Bool {
        guard (try? ImageReference(parsing: "\(registry)/x"))?.registry == registry, !registry.hasPrefix(".") else {
            throw FerryError(.invalidArgument, "'\(registry.prefix(100))' is not a registry host name: no hosts.toml written for it")
        }
        let folder = "\(directory)/\(directoryName)"
        let path = "\(folder)/hosts.toml"
        if (try? String(contentsOfFile: path, encoding: .utf8)) == text { return false }
        do {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
            let temporary = "\(folder)/.hosts.toml.\(UUID().uuidString)"
            guard FileManager.default.createFile(atPath: temporary, contents: Data(text.utf8), attributes: [.posixPermissions: 0o600]) else {
                throw FerryError(.configuration, "cannot write '\(temporary)'")
            }
            guard rename(temporary, path) == 0 else {
                let reason = String(cString: strerror(errno))
                unlink(temporary)
                throw FerryError(.configuration, "cannot write '\(path)': \(reason)")
            }
        } catch let error as FerryError {
            throw error
        } catch {
            throw FerryError(.configuration, "cannot write containerd's hosts file under '\(folder)': \(error.localizedDescription); check --containerd-hosts-dir")
        }
        return true
    }
}
