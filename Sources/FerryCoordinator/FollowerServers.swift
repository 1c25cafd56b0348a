import Crypto
import FerryDiagnostics
import FerryMesh
import FerryPolicy
import FerryRegistry
import FerryServer
import Foundation
import Logging

/// A follower's servers: the mesh server (TLS unless the mesh is plain HTTP: the node's
/// registry for peers, its local admin routes) and, with `--containerd-hosts-dir` or the pull
/// handoff, its loopback registry (plain HTTP on 127.0.0.1 only) for the node's engines.
struct FollowerServers {
    let main: MeshServer
    let localRegistry: MeshServer?

    /// `listening` and `localRegistryListening` are called with each server's URL once it listens.
    init(
        follower: FollowerService, identity me: NodeIdentity, certificate: NodeCertificate?,
        leaderManifests: @escaping RegistryReadAPI.ManifestFallback, meshBlobs: @escaping RegistryReadAPI.BlobFallback,
        listening: @escaping @Sendable (String) -> Void, localRegistryListening: @escaping @Sendable (String) -> Void
    ) throws {
        let configuration = follower.configuration
        let credential = me.credential
        let router = buildFerryRouter(
            verifier: NodeCredentialVerifier(
                credential: credential, nodeName: configuration.name,
                peerKey: me.peerKey.flatMap { Data(base64Encoded: $0) }.flatMap { try? Curve25519.Signing.PublicKey(rawRepresentation: $0) }),
            registry: RegistryReadAPI(
                database: follower.database, store: follower.store, defaultRegistry: configuration.defaultRegistry,
                uploadLimiter: configuration.maxUploadRate.map { RateLimiter(bytesPerSecond: $0) }, manifestFallback: leaderManifests,
                cutThrough: .verifiedEnd),
            apis: .follower(local: LocalAdminRoutes(backend: follower)), revocations: follower.revocations)
        var identity: MeshServer.Identity?
        if let certificate {
            let key = (try? String(contentsOfFile: follower.directory.tlsKeyPath, encoding: .utf8)) ?? ""
            identity = MeshServer.Identity(
                certificates: [certificate.certificatePEM, certificate.clusterCA], key: key, clientCA: certificate.clusterCA,
                current: certificate.serverCallback)
        }
        main = try MeshServer(
            router: router, limits: configuration.http, identity: identity, host: configuration.host, port: configuration.port,
            directory: follower.directory, role: "follower", metadata: ["leader": "\(configuration.leaderURL)"], logger: follower.logger,
            listening: listening)
        guard configuration.runsLocalRegistry else {
            localRegistry = nil
            return
        }
        // What the loopback registry serves: the node's images to its Docker engine and
        // containerd, which pull while the blobs arrive (verified cut-through, docs/docker-handoff.md);
        // a blob of the node's that its collection removed is brought from the mesh again.
        var api = RegistryReadAPI(
            database: follower.database, store: follower.store, defaultRegistry: configuration.defaultRegistry, manifestFallback: leaderManifests,
            blobFallback: meshBlobs, cutThrough: .verified)
        // The crash point of the engine's handoff, as in the load's archive stream.
        if Failpoint.followerLoadStreaming.isArmed { api.servingFailpoint = .followerLoadStreaming }
        // Loopback only: every client there (dockerd, containerd, the kubelet) shares 127.0.0.1,
        // and no other host can reach it, so its connections are not capped per client.
        var localLimits = configuration.http
        localLimits.maxConnectionsPerClient = 0
        localRegistry = try MeshServer(
            router: buildFerryRouter(
                verifier: NodeCredentialVerifier(credential: credential, nodeName: configuration.name, peerKey: nil), registry: api, admin: nil),
            limits: localLimits, identity: nil, host: "127.0.0.1", port: configuration.localRegistryPort,
            directory: follower.directory, role: "follower-registry", publishes: false, logger: follower.logger,
            listening: localRegistryListening)
    }
}
