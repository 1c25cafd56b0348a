import Crypto
import FerryCore
import Foundation
import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS
import SwiftASN1
import Synchronization
import X509

/// TLS on the mesh: every node's certificate is issued by the cluster CA the leader created, and
/// every client trusts that CA alone. Host names are not checked (nodes are reached by whatever
/// address the site uses); the chain to the cluster CA is, and credentials are checked on top.
public enum MeshTLS {
    /// A client configuration trusting only the cluster CA in `caFile`.
    public static func clientConfiguration(caFile: String) throws(FerryError) -> TLSConfiguration {
        var configuration = TLSConfiguration.makeClientConfiguration()
        do {
            configuration.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(caFile))
        } catch {
            throw FerryError(.configuration, "cannot read the cluster CA certificate '\(caFile)'")
        }
        configuration.certificateVerification = .noHostnameVerification
        configuration.minimumTLSVersion = .tlsv12
        return configuration
    }

    /// A server configuration presenting `certificates` (leaf first, then the CA) with `keyPEM`.
    public static func serverConfiguration(certificates: [String], keyPEM: String) throws(FerryError) -> TLSConfiguration {
        do {
            let chain = try certificates.map { try NIOSSLCertificate(bytes: Array($0.utf8), format: .pem) }
            let key = try NIOSSLPrivateKey(bytes: Array(keyPEM.utf8), format: .pem)
            var configuration = TLSConfiguration.makeServerConfiguration(
                certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
            configuration.minimumTLSVersion = .tlsv12
            return configuration
        } catch {
            throw FerryError(.configuration, "cannot use the node's TLS certificate and key: \(error)")
        }
    }

    /// sha256 of a certificate's DER, lowercase hex: what a join token carries.
    public static func fingerprint(ofPEM pem: String) throws -> String {
        let certificate = try Certificate(pemEncoded: pem)
        var serializer = DER.Serializer()
        try serializer.serialize(certificate)
        return Digest.sha256(of: serializer.serializedBytes).encoded
    }

    /// Connects to `host:port` over TLS without trusting anything yet, and returns the PEM of the
    /// certificate in the chain the server presents whose fingerprint is `fingerprint`. Nothing
    /// secret is sent. A client that then trusts only that CA cannot be fooled by a server that
    /// merely copied the CA certificate: its leaf will not verify.
    public static func fetchClusterCA(host: String, port: Int, fingerprint: String) async throws -> String {
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
            throw FerryError(.upstreamUnreachable, "cannot reach the leader at \(host):\(port): \(error)")
        }
        defer { channel.close(promise: nil) }
        do {
            try await channel.pipeline.handler(type: HandshakeWaiter.self).flatMap { $0.done.futureResult }.get()
        } catch {
            throw FerryError(
                .upstreamUnreachable,
                "the leader at \(host):\(port) did not complete a TLS handshake (is it running with --insecure-mesh? then the follower needs --insecure-mesh too)")
        }
        for certificate in captured.withLock({ $0 }) {
            let der = try certificate.toDERBytes()
            if Digest.sha256(of: der).encoded == fingerprint {
                return try Certificate(derEncoded: der).serializeAsPEM().pemString
            }
        }
        throw FerryError(
            .denied,
            "the server at \(host):\(port) did not present the cluster CA named in the join token (fingerprint mismatch): refusing to join; check the leader URL and the join token")
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
}
