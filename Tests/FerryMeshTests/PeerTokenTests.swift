import Crypto
import FerryCore
import FerryFormats
import Foundation
import Testing

@testable import FerryMesh

/// Peer tokens: signed by the leader, one blob, a short life.
@Suite("PeerToken")
struct PeerTokenTests {
    static let key = Curve25519.Signing.PrivateKey()
    static let blob = Digest.sha256(of: Array("blob".utf8))
    static let other = Digest.sha256(of: Array("other".utf8))

    @Test("a token verifies for its blob until it expires")
    func roundTrip() throws {
        let token = try PeerToken.sign(PeerToken.Claims(node: "n1", digest: Self.blob, exp: 1_000), with: Self.key)
        let claims = try #require(PeerToken.verify(token, publicKey: Self.key.publicKey, digest: Self.blob, now: 999))
        #expect(claims.node == "n1" && claims.digest == Self.blob)
        #expect(PeerToken.verify(token, publicKey: Self.key.publicKey, digest: nil, now: 999) != nil, "any blob when none is asked")
        #expect(PeerToken.verify(token, publicKey: Self.key.publicKey, digest: Self.blob, now: 1_001) == nil, "expired")
    }

    @Test("another blob, another key, or a tampered token is refused")
    func refusals() throws {
        let token = try PeerToken.sign(PeerToken.Claims(node: "n1", digest: Self.blob, exp: 1_000), with: Self.key)
        #expect(PeerToken.verify(token, publicKey: Self.key.publicKey, digest: Self.other, now: 0) == nil)
        #expect(PeerToken.verify(token, publicKey: Curve25519.Signing.PrivateKey().publicKey, digest: Self.blob, now: 0) == nil)
        var bytes = Array(token.utf8)
        bytes[bytes.count / 2] = bytes[bytes.count / 2] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
        #expect(PeerToken.verify(String(decoding: bytes, as: UTF8.self), publicKey: Self.key.publicKey, digest: Self.blob, now: 0) == nil)
        #expect(PeerToken.verify("", publicKey: Self.key.publicKey, digest: Self.blob, now: 0) == nil)
        #expect(PeerToken.verify("not.a.token", publicKey: Self.key.publicKey, digest: Self.blob, now: 0) == nil)
    }
}

extension PeerTokenTests {
    @Test("A token names its audience: another peer refuses it")
    func audience() throws {
        let token = try PeerToken.sign(PeerToken.Claims(node: "n1", digest: Self.blob, exp: 1_000, audience: "n2"), with: Self.key)
        #expect(PeerToken.verify(token, publicKey: Self.key.publicKey, digest: Self.blob, audience: "n2", now: 0)?.node == "n1")
        #expect(PeerToken.verify(token, publicKey: Self.key.publicKey, digest: Self.blob, audience: "n3", now: 0) == nil)
        let unaddressed = try PeerToken.sign(PeerToken.Claims(node: "n1", digest: Self.blob, exp: 1_000), with: Self.key)
        #expect(PeerToken.verify(unaddressed, publicKey: Self.key.publicKey, digest: Self.blob, audience: "n2", now: 0) == nil)
        #expect(PeerToken.lifetime <= 300, "short-lived")
    }
}
