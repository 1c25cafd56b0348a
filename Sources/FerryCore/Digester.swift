import Foundation
import Crypto

/// Incremental hashing of a stream, for verifying content as it arrives.
///
/// Feed chunks with ``update(_:)``; ``finalize()`` yields the ``Digest``.
/// Uses swift-crypto's SHA-256 (BoringSSL, with the CPU's SHA extensions where present).
public struct Digester: Sendable {
    private enum State: Sendable {
        case sha256(SHA256)
        case sha512(SHA512)
    }

    private var state: State
    /// Bytes hashed so far.
    public private(set) var count: Int64 = 0

    public init(_ algorithm: Digest.Algorithm = .sha256) {
        switch algorithm {
        case .sha256: state = .sha256(SHA256())
        case .sha512: state = .sha512(SHA512())
        }
    }

    public var algorithm: Digest.Algorithm {
        switch state {
        case .sha256: .sha256
        case .sha512: .sha512
        }
    }

    /// Hashes `bytes` and counts them.
    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        count += Int64(bytes.count)
        switch state {
        case .sha256(var hasher):
            hasher.update(bufferPointer: bytes)
            state = .sha256(hasher)
        case .sha512(var hasher):
            hasher.update(bufferPointer: bytes)
            state = .sha512(hasher)
        }
    }

    /// Hashes `bytes`, one contiguous region at a time.
    public mutating func update(_ bytes: some DataProtocol) {
        for region in bytes.regions {
            region.withUnsafeBytes { update($0) }
        }
    }

    public func finalize() -> Digest {
        switch state {
        case .sha256(let hasher): Digest(algorithm: .sha256, bytes: hasher.finalize())
        case .sha512(let hasher): Digest(algorithm: .sha512, bytes: hasher.finalize())
        }
    }
}
