import Crypto
import FerryCore
import FerryTransfer
import Foundation
import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS
import SwiftASN1
import Synchronization
import X509

/// TLS on the mesh: every node's certificate is issued by the cluster CA the leader created, and
/// every client trusts that CA alone.
///
/// The leader's certificate alone carries ``NodeAddress/leaderName``: its clients connect under
/// that name (mapped to the leader's real host) with full hostname verification, so a node's
/// certificate never passes for the leader's. Peers are checked by chain only (a node is reached
/// at whatever address it advertised); a follower fetching from a peer presents its own
/// certificate, which binds the peer token it sends to it.
public enum MeshTLS {
    /// A node's own certificate and key (PEM files), presented as a TLS client certificate to peers.
    public struct ClientIdentity: Sendable, Hashable {
        public var certificateFile: String
        public var keyFile: String
        /// Tells apart the files' contents before and after a renewal (the certificate's serial).
        public var generation: String
        public init(certificateFile: String, keyFile: String, generation: String = "") {
            self.certificateFile = certificateFile
            self.keyFile = keyFile
            self.generation = generation
        }
    }

    /// A client configuration trusting only the cluster CA in `caFile`. With `leader`, the server
    /// must hold ``NodeAddress/leaderName`` (connect to it under that name); else only the chain
    /// is checked. `identity` is presented as the client certificate.
    public static func clientConfiguration(caFile: String, leader: Bool, identity: ClientIdentity? = nil) throws(FerryError) -> TLSConfiguration {
        var configuration = TLSConfiguration.makeClientConfiguration()
        do {
            configuration.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(caFile))
        } catch {
            throw FerryError(.configuration, "cannot read the cluster CA certificate '\(caFile)'")
        }
        if let identity {
            do {
                configuration.certificateChain = try NIOSSLCertificate.fromPEMFile(identity.certificateFile).map { .certificate($0) }
                configuration.privateKey = .privateKey(try NIOSSLPrivateKey(file: identity.keyFile, format: .pem))
            } catch {
                throw FerryError(.configuration, "cannot read the node's TLS certificate '\(identity.certificateFile)' and key")
            }
        }
        configuration.certificateVerification = leader ? .fullVerification : .noHostnameVerification
        configuration.minimumTLSVersion = .tlsv12
        return configuration
    }

    /// A server configuration presenting `certificates` (leaf first, then the CA) with `keyPEM`.
    /// With `clientCA` (PEM), clients may present a certificate, which must chain to it. With
    /// `current`, each handshake presents what it gives instead (a renewed certificate).
    public static func serverConfiguration(
        certificates: [String], keyPEM: String, clientCA: String? = nil, current: NIOSSLContextCallback? = nil
    ) throws(FerryError) -> TLSConfiguration {
        do {
            let chain = try certificates.map { try NIOSSLCertificate(bytes: Array($0.utf8), format: .pem) }
            let key = try NIOSSLPrivateKey(bytes: Array(keyPEM.utf8), format: .pem)
            var configuration = TLSConfiguration.makeServerConfiguration(
                certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
            configuration.minimumTLSVersion = .tlsv12
            // swift-nio-ssl, with remote half-closure allowed (Hummingbird allows it), does not
            // finish a close it started when the client answers close_notify and FIN: it waits
            // `shutdownTimeout` per connection (5 s by default), which held every graceful
            // shutdown with a client connected (an idle keep-alive one too) for 5 s.
            configuration.shutdownTimeout = .milliseconds(500)
            configuration.sslContextCallback = current
            if let clientCA {
                configuration.trustRoots = .certificates([try NIOSSLCertificate(bytes: Array(clientCA.utf8), format: .pem)])
                configuration.certificateVerification = .optionalVerification
            }
            return configuration
        } catch {
            throw FerryError(.configuration, "cannot use the node's TLS certificate and key: \(error)")
        }
    }

    /// The subject of the certificate the cluster CA issues node `name`.
    public static func nodeSubject(_ name: String) throws -> DistinguishedName {
        try DistinguishedName {
            OrganizationName("Ferry")
            CommonName("ferry node \(name)")
        }
    }

    /// Whether `certificate` (verified by the TLS handshake) is the one issued to node `name`.
    public static func isCertificate(_ certificate: NIOSSLCertificate, ofNode name: String) -> Bool {
        guard let der = try? certificate.toDERBytes(), let parsed = try? Certificate(derEncoded: der),
            let subject = try? nodeSubject(name)
        else { return false }
        return parsed.subject == subject
    }

    /// Who is at the other end of a server connection, as TLS says.
    public enum ClientCertificate: Sendable {
        /// The connection is plain HTTP (`--insecure-mesh`): there is no certificate to ask for.
        case plainHTTP
        /// TLS, and the client presented no certificate.
        case none
        /// TLS, and the client presented this certificate, verified against the cluster CA.
        case verified(NIOSSLCertificate)
    }

    /// The client certificate of the connection `channel` (a server's child channel).
    public static func clientCertificate(of channel: any Channel) async -> ClientCertificate {
        do {
            return try await channel.nioSSL_peerCertificate().get().map { .verified($0) } ?? ClientCertificate.none
        } catch {
            // No TLS handler in the pipeline; a closed channel counts as no certificate.
            return channel.isActive ? .plainHTTP : .none
        }
    }

    /// The DNS names and IP addresses (as text) a certificate names.
    public static func alternativeNames(ofPEM pem: String) throws -> [String] {
        let certificate = try Certificate(pemEncoded: pem)
        guard let names = try certificate.extensions.subjectAlternativeNames else { return [] }
        return names.compactMap { name in
            switch name {
            case .dnsName(let dns): return dns
            case .ipAddress(let octets):
                let bytes = Array(octets.bytes)
                var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
                let family = bytes.count == 4 ? AF_INET : AF_INET6
                guard inet_ntop(family, bytes, &buffer, socklen_t(buffer.count)) != nil else { return nil }
                return buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
            default: return nil
            }
        }
    }

    /// sha256 of a certificate's DER, lowercase hex: what a join token carries.
    public static func fingerprint(ofPEM pem: String) throws -> String {
        try fingerprint(of: try Certificate(pemEncoded: pem))
    }

    /// ``fingerprint(ofPEM:)`` of a parsed certificate.
    public static func fingerprint(of certificate: Certificate) throws -> String {
        var serializer = DER.Serializer()
        try serializer.serialize(certificate)
        return Digest.sha256(of: serializer.serializedBytes).encoded
    }

    /// Connects to `host:port` over TLS without trusting anything yet, and returns the PEM of the
    /// certificate in the chain the server presents whose fingerprint is `fingerprint`. Nothing
    /// secret is sent. A client that then trusts only that CA cannot be fooled by a server that
    /// merely copied the CA certificate: its leaf will not verify.
    public static func fetchClusterCA(host: String, port: Int, fingerprint: String) async throws -> String {
        for certificate in try await presentedChain(host: host, port: port) where try Self.fingerprint(of: certificate) == fingerprint {
            return try certificate.serializeAsPEM().pemString
        }
        throw FerryError(
            .denied,
            "the server at \(host):\(port) did not present the cluster CA named in the join token (fingerprint mismatch): refusing to join; check the leader URL and the join token")
    }

    /// The certificates the server at `host:port` presents in its TLS handshake, trusting nothing
    /// and sending nothing secret.
    public static func presentedChain(host: String, port: Int) async throws -> [Certificate] {
        let captured = Mutex<[NIOSSLCertificate]>([])
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.certificateVerification = .none
        let context = try NIOSSLContext(configuration: configuration)
        let bootstrap = ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(.seconds(10))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let handler = try NIOSSLClientHandler(context: context, serverHostname: nil) { certificates, promise in
                        captured.withLock { $0 = certificates }
                        promise.succeed(.certificateVerified)
                    }
                    try channel.pipeline.syncOperations.addHandler(handler)
                    try channel.pipeline.syncOperations.addHandler(HandshakeWaiter())
                }
            }
        let channel: any Channel
        do {
            channel = try await bootstrap.connect(host: host, port: port).get()
        } catch {
            let reason = TransportProblem(error).map { "\($0)" } ?? "\(error)"
            throw FerryError(.upstreamUnreachable, "cannot reach the leader at \(host):\(port): \(reason); is `ferry leader` running there?")
        }
        defer { channel.close(promise: nil) }
        do {
            try await channel.pipeline.handler(type: HandshakeWaiter.self).flatMap { $0.done.futureResult }.get()
        } catch {
            throw FerryError(
                .upstreamUnreachable,
                "the leader at \(host):\(port) did not complete a TLS handshake (is it running with --insecure-mesh? then the follower needs --insecure-mesh too)")
        }
        return try captured.withLock { $0 }.map { try Certificate(derEncoded: try $0.toDERBytes()) }
    }
}

/// Completes when the TLS handshake does (or fails).
private final class HandshakeWaiter: ChannelInboundHandler, RemovableChannelHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    private var promise: EventLoopPromise<Void>?
    private var future: EventLoopFuture<Void>?

    var done: EventLoopPromise<Void> { promise! }

    func handlerAdded(context: ChannelHandlerContext) {
        promise = context.eventLoop.makePromise()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? TLSUserEvent, case .handshakeCompleted = event { promise?.succeed(()) }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        promise?.fail(error)
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        promise?.fail(ChannelError.ioOnClosedChannel)
        context.fireChannelInactive()
    }

    /// A connect that fails never makes the channel active: the handler is removed with the
    /// promise still open, which must not leak.
    func handlerRemoved(context: ChannelHandlerContext) {
        promise?.fail(ChannelError.ioOnClosedChannel)
    }
}
