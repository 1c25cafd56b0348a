import Crypto
import FerryCore
import FerryFormats
import Foundation
import FuzzSupport

/// `PeerToken.verify` with a fixed leader key, three ways, picked by the first byte:
/// 0. the input is the token: whatever verifies must re-sign to a token that verifies the same;
/// 1. the input is the claims payload, correctly signed: only well-formed, unexpired claims
///    verify, only for their own digest, and never under another key;
/// 2. a valid token is built from the input and one byte of it changed: it verifies to the
///    original claims or not at all (a changed signature or payload is never accepted as other claims).
@main
enum PeerTokenFuzz {
    static func main() { Fuzzer.run { fuzz($0, $1) } }
}

let key = try! Curve25519.Signing.PrivateKey(rawRepresentation: [UInt8](repeating: 0x2a, count: 32))
let otherKey = try! Curve25519.Signing.PrivateKey(rawRepresentation: [UInt8](repeating: 0x17, count: 32))
let now: Int64 = 1_800_000_000
let someDigest = Digest.sha256(of: Array("ferry".utf8))

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer?, _ count: Int) -> CInt {
    var input = FuzzInput(start, count)
    switch input.byte() % 3 {
    case 0: verifyRaw(input.restAsString())
    case 1: verifySignedPayload(Array(input.rest()))
    default: verifyTampered(&input)
    }
    return 0
}

func verifyRaw(_ token: String) {
    guard let claims = PeerToken.verify(token, publicKey: key.publicKey, digest: nil, now: now) else { return }
    invariant(claims.exp > now, "\(quoted(token)) verified with expiry \(claims.exp)")
    let resigned = try! PeerToken.sign(claims, with: key)
    invariant(
        PeerToken.verify(resigned, publicKey: key.publicKey, digest: claims.digest, now: now) == claims,
        "\(quoted(token)) verified, its claims re-signed do not"
    )
}

func verifySignedPayload(_ payload: [UInt8]) {
    let signed = "fpt1." + base64URL(payload)
    let token = signed + "." + base64URL(try! key.signature(for: Data(signed.utf8)))
    let claims = PeerToken.verify(token, publicKey: key.publicKey, digest: nil, now: now)
    invariant(
        PeerToken.verify(token, publicKey: otherKey.publicKey, digest: nil, now: now) == nil,
        "\(quoted(token)) verified under another key"
    )
    guard let claims else { return }
    invariant(claims.exp > now, "the payload \(quoted(String(decoding: payload, as: UTF8.self))) verified with expiry \(claims.exp)")
    invariant(
        PeerToken.verify(token, publicKey: key.publicKey, digest: claims.digest, now: now) == claims,
        "\(quoted(token)) does not verify for its own digest"
    )
    if claims.digest != someDigest {
        invariant(
            PeerToken.verify(token, publicKey: key.publicKey, digest: someDigest, now: now) == nil,
            "\(quoted(token)) verified for another digest"
        )
    }
    invariant(
        PeerToken.verify(token, publicKey: key.publicKey, digest: nil, now: claims.exp) == nil,
        "\(quoted(token)) verified at its expiry"
    )
}

func verifyTampered(_ input: inout FuzzInput) {
    let position = Int(input.byte()) | Int(input.byte()) << 8
    let replacement = input.byte()
    let lifetime = Int64(input.byte()) + 1
    let claims = PeerToken.Claims(
        node: input.restAsString(),
        digest: Digest.sha256(of: [replacement]),
        exp: now + lifetime
    )
    let token = try! PeerToken.sign(claims, with: key)
    invariant(
        PeerToken.verify(token, publicKey: key.publicKey, digest: claims.digest, now: now) == claims,
        "a fresh token for \(quoted(claims.node)) does not verify"
    )
    var bytes = Array(token.utf8)
    let index = position % bytes.count
    guard bytes[index] != replacement else { return }
    bytes[index] = replacement
    let tampered = String(decoding: bytes, as: UTF8.self)
    let result = PeerToken.verify(tampered, publicKey: key.publicKey, digest: nil, now: now)
    invariant(result == nil || result == claims, "\(quoted(tampered)) (byte \(index) changed) verified as other claims")
    let truncated = String(decoding: bytes[..<index], as: UTF8.self)
    let short = PeerToken.verify(truncated, publicKey: key.publicKey, digest: nil, now: now)
    invariant(short == nil || short == claims, "\(quoted(truncated)) (cut at \(index)) verified as other claims")
}

/// base64url without padding, as the leader writes it.
func base64URL(_ bytes: some DataProtocol) -> String {
    Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
        .replacingOccurrences(of: "=", with: "")
}
