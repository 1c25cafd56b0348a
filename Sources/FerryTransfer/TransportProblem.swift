import AsyncHTTPClient
import FerryCore
import Foundation
import NIOCore
import NIOPosix
import NIOSSL

/// What went wrong with a network exchange that got no (complete) answer, classified by the
/// error's type and code — never by its text — so that every client of Ferry (upstream registry,
/// leader, peers, Docker engine) decides "retry or give up" and words the problem the same way.
public enum TransportProblem: Sendable, Hashable, CustomStringConvertible {
    case connectionRefused
    case connectionReset
    case connectionClosed
    case timedOut
    case hostUnreachable
    case nameNotResolved
    case permissionDenied
    case noSuchSocket
    /// The peer's certificate did not verify against the trusted CAs (or its name did not match).
    case tlsUntrusted
    /// The peer answered in plain HTTP (or not in TLS at all).
    case tlsNotSpoken
    /// Another TLS handshake failure.
    case tlsFailed
    /// Another operating-system error.
    case system(errno: CInt)

    /// Classifies `error`; nil when it is not a transport failure (an HTTP answer, a `FerryError`,
    /// cancellation).
    public init?(_ error: any Error) {
        switch error {
        case let error as HTTPClientError:
            switch error {
            case .connectTimeout, .readTimeout, .writeTimeout, .deadlineExceeded, .tlsHandshakeTimeout, .getConnectionFromPoolTimeout:
                self = .timedOut
            case .remoteConnectionClosed, .bodyLengthMismatch, .uncleanShutdown: self = .connectionClosed
            default: return nil
            }
        case let error as NIOConnectionError:
            for failure in error.connectionErrors {
                if let problem = TransportProblem(failure.error) {
                    self = problem
                    return
                }
            }
            if error.dnsAError != nil || error.dnsAAAAError != nil, error.connectionErrors.isEmpty {
                self = .nameNotResolved
                return
            }
            self = .connectionRefused
        case let error as IOError:
            self = Self(errno: error.errnoCode)
        case is SocketAddressError, is SocketAddressError.UnknownHost:
            self = .nameNotResolved
        case let error as NIOSSLError:
            switch error {
            case .handshakeFailed(let boring):
                self = Self(boring)
            case .uncleanShutdown:
                self = .connectionClosed
            case .cannotMatchULabel, .unableToValidateCertificate, .noCertificateToValidate:
                self = .tlsUntrusted
            default:
                self = .tlsFailed
            }
        case let error as BoringSSLError:
            self = Self(error)
        case let error as NIOSSLExtraError where error == .failedToValidateHostname || error == .serverHostnameImpossibleToMatch:
            self = .tlsUntrusted
        case is NIOSSLExtraError:
            self = .tlsFailed
        case is ChannelError:
            self = .connectionClosed
        default:
            return nil
        }
    }

    init(errno code: CInt) {
        switch code {
        case ECONNREFUSED: self = .connectionRefused
        case ECONNRESET, EPIPE: self = .connectionReset
        case ETIMEDOUT: self = .timedOut
        case EHOSTUNREACH, ENETUNREACH, ENETDOWN, EHOSTDOWN: self = .hostUnreachable
        case EACCES, EPERM: self = .permissionDenied
        case ENOENT: self = .noSuchSocket
        default: self = .system(errno: code)
        }
    }

    /// BoringSSL's packed error codes: library in the top byte, reason in the low 12 bits.
    private static let libSSL: UInt32 = 16
    private static let certificateVerifyFailed: UInt32 = 125
    private static let httpRequest: UInt32 = 156
    private static let httpsProxyRequest: UInt32 = 155
    private static let wrongVersionNumber: UInt32 = 247

    init(_ error: BoringSSLError) {
        guard case .sslError(let stack) = error else {
            self = .tlsFailed
            return
        }
        for entry in stack {
            guard let packed = Self.packedCode(entry), packed >> 24 == Self.libSSL else { continue }
            switch packed & 0xFFF {
            case Self.certificateVerifyFailed: self = .tlsUntrusted; return
            case Self.wrongVersionNumber, Self.httpRequest, Self.httpsProxyRequest: self = .tlsNotSpoken; return
            default: continue
            }
        }
        self = .tlsFailed
    }

    /// The packed BoringSSL code of one error-stack entry. NIOSSL exposes it only as the number
    /// at the head of the entry's description ("Error: <code> …"), so it is read from there.
    private static func packedCode(_ entry: BoringSSLInternalError) -> UInt32? {
        let text = entry.description
        guard text.hasPrefix("Error: ") else { return nil }
        return UInt32(text.dropFirst(7).prefix { $0.isNumber })
    }

    /// Whether trying again may help: everything but a TLS trust or protocol problem and a
    /// permission problem, which need the operator.
    public var isTransient: Bool {
        switch self {
        case .tlsUntrusted, .tlsNotSpoken, .tlsFailed, .permissionDenied: false
        default: true
        }
    }

    /// Whether the peer had been reached at all (a refused connection or an unknown name did not).
    public var reachedPeer: Bool {
        switch self {
        case .connectionRefused, .nameNotResolved, .hostUnreachable, .noSuchSocket: false
        default: true
        }
    }

    public var description: String {
        switch self {
        case .connectionRefused: "connection refused"
        case .connectionReset: "connection reset"
        case .connectionClosed: "the connection was closed"
        case .timedOut: "no answer in time"
        case .hostUnreachable: "host unreachable"
        case .nameNotResolved: "the host name could not be resolved"
        case .permissionDenied: "permission denied"
        case .noSuchSocket: "no such socket"
        case .tlsUntrusted: "its TLS certificate is not trusted"
        case .tlsNotSpoken: "it does not speak TLS"
        case .tlsFailed: "the TLS handshake failed"
        case .system(let code): String(cString: strerror(code)).lowercased()
        }
    }
}

/// What to do with a failed step of a transfer: one answer for every error Ferry meets.
public enum FailureClass: Sendable, Hashable {
    /// The caller (or its task) was cancelled: stop, quietly.
    case cancelled
    /// Trying again may succeed: a network problem, a 5xx, throttling, bytes to fetch again.
    case transient
    /// Trying again cannot help until something changes.
    case permanent

    public init(_ error: any Error) {
        switch error {
        case is CancellationError: self = .cancelled
        case let error as FerryError: self = error.isTransient ? .transient : .permanent
        default:
            if let problem = TransportProblem(error) {
                self = problem.isTransient ? .transient : .permanent
            } else {
                self = .permanent
            }
        }
    }
}
