import AsyncHTTPClient
import Foundation
import FerryCore
import NIOCore
import NIOSSL
import Testing

@testable import FerryTransfer

/// Errors are classified by their type and code, never by their text.
@Suite("Failure classification")
struct FailureClassTests {
    @Test("operating-system errors map by errno")
    func errnos() {
        #expect(TransportProblem(IOError(errnoCode: ECONNREFUSED, reason: "connect")) == .connectionRefused)
        #expect(TransportProblem(IOError(errnoCode: ECONNRESET, reason: "read")) == .connectionReset)
        #expect(TransportProblem(IOError(errnoCode: EHOSTUNREACH, reason: "connect")) == .hostUnreachable)
        #expect(TransportProblem(IOError(errnoCode: ENOENT, reason: "connect")) == .noSuchSocket)
        #expect(TransportProblem(IOError(errnoCode: EACCES, reason: "connect")) == .permissionDenied)
    }

    @Test("AsyncHTTPClient's errors")
    func httpClient() {
        #expect(TransportProblem(HTTPClientError.readTimeout) == .timedOut)
        #expect(TransportProblem(HTTPClientError.connectTimeout) == .timedOut)
        #expect(TransportProblem(HTTPClientError.remoteConnectionClosed) == .connectionClosed)
        #expect(TransportProblem(HTTPClientError.invalidURL) == nil)
    }

    @Test("TLS: handshake failures are permanent, unclean shutdowns are not")
    func tls() {
        let untrusted = TransportProblem(NIOSSLError.handshakeFailed(.sslError([])))
        #expect(untrusted == .tlsFailed)
        #expect(untrusted?.isTransient == false)
        #expect(TransportProblem(NIOSSLError.uncleanShutdown) == .connectionClosed)
        #expect(TransportProblem(NIOSSLExtraError.failedToValidateHostname) == .tlsUntrusted)
    }

    @Test("one definition of transient")
    func classes() {
        #expect(FailureClass(CancellationError()) == .cancelled)
        for code: FerryError.Code in [.upstreamUnreachable, .upstreamError, .tooManyRequests, .busy, .digestMismatch, .sizeMismatch] {
            #expect(FailureClass(FerryError(code, "x")) == .transient, "\(code)")
        }
        for code: FerryError.Code in [.unauthorized, .denied, .manifestUnknown, .blobUnknown, .insufficientSpace, .configuration, .invalidArgument] {
            #expect(FailureClass(FerryError(code, "x")) == .permanent, "\(code)")
        }
        #expect(FailureClass(IOError(errnoCode: ECONNREFUSED, reason: "connect")) == .transient)
        #expect(FailureClass(NIOSSLError.handshakeFailed(.sslError([]))) == .permanent)
        struct Unknown: Error {}
        #expect(FailureClass(Unknown()) == .permanent)
    }
}
