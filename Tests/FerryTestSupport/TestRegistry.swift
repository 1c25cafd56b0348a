import FerryCore
import Foundation

/// A real CNCF distribution registry (`docker-registry`), started by `cluster/registry.sh`.
public struct TestRegistry: Sendable {
    public enum Auth: Sendable {
        case none
        case htpasswd(user: String, password: String)
        case token(realm: String, service: String, issuer: String, certificate: String)
    }

    public let directory: String
    public let port: Int
    public var host: String { "127.0.0.1:\(port)" }
    public var url: String { "http://\(host)" }

    /// Starts a registry storing its data under `directory`.
    public static func start(in directory: String, auth: Auth = .none, tls: TestCertificates? = nil) async throws -> TestRegistry {
        var lastError: (any Error)?
        for _ in 0..<3 {
            let port = try freePort()
            var arguments = ["start", directory, "--port", "\(port)"]
            if let tls { arguments += ["--tls-cert", tls.serverCertificate, "--tls-key", tls.serverKey] }
            switch auth {
            case .none:
                break
            case .htpasswd(let user, let password):
                arguments += ["--auth", "htpasswd", "--user", user, "--password", password]
            case .token(let realm, let service, let issuer, let certificate):
                arguments += ["--auth", "token", "--token-realm", realm, "--token-service", service, "--token-issuer", issuer, "--token-cert", certificate]
            }
            do {
                try await runChecked(RepositoryLayout.cluster("registry.sh"), arguments)
                return TestRegistry(directory: directory, port: port)
            } catch {
                lastError = error
            }
        }
        throw lastError!
    }

    public func stop() async {
        _ = try? await runProcess(RepositoryLayout.cluster("registry.sh"), ["stop", directory])
    }

    /// How many GETs of each blob the registry answered (from its access log).
    public func blobGets() async throws -> [Digest: Int] {
        let output = try await runChecked(RepositoryLayout.cluster("registry.sh"), ["blob-gets", directory])
        var counts: [Digest: Int] = [:]
        for line in output.split(separator: "\n") {
            let parts = line.split(separator: " ")
            guard parts.count == 2, let count = Int(parts[0]), let digest = try? Digest(parsing: parts[1]) else { continue }
            counts[digest] = count
        }
        return counts
    }

    /// Runs `body` with a registry that is stopped afterwards, whatever happens.
    public static func with<T>(
        in directory: String, auth: Auth = .none, tls: TestCertificates? = nil, _ body: (TestRegistry) async throws -> T
    ) async throws -> T {
        let registry = try await start(in: directory, auth: auth, tls: tls)
        do {
            let result = try await body(registry)
            await registry.stop()
            return result
        } catch {
            await registry.stop()
            throw error
        }
    }
}
