import FerryCore
import Foundation
import Testing

@Suite("Digester")
struct DigesterTests {
    static let vectors: [(String, Digest.Algorithm, String)] = [
        ("", .sha256, "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        ("abc", .sha256, "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        (
            "", .sha512,
            "sha512:cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e"
        ),
        (
            "abc", .sha512,
            "sha512:ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"
        ),
    ]

    @Test("matches the FIPS 180 test vectors", arguments: vectors)
    func knownVectors(_ input: String, _ algorithm: Digest.Algorithm, _ expected: String) {
        var digester = Digester(algorithm)
        digester.update(Array(input.utf8))
        #expect(digester.finalize().description == expected)
        #expect(digester.count == Int64(input.utf8.count))
        #expect(digester.algorithm == algorithm)
    }

    @Test func chunkedInputGivesTheSameDigest() {
        let bytes = (0..<100_000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
        var whole = Digester()
        whole.update(bytes)
        var chunked = Digester()
        var offset = 0
        for size in [1, 7, 4096, 65_536, 0, 30_000] where offset < bytes.count {
            let end = min(offset + size, bytes.count)
            bytes[offset..<end].withUnsafeBytes { chunked.update($0) }
            offset = end
        }
        chunked.update(Data(bytes[offset...]))
        #expect(chunked.count == 100_000)
        #expect(chunked.finalize() == whole.finalize())
        #expect(whole.finalize() == Digest.sha256(of: bytes))
    }

    @Test func finalizeDoesNotConsumeTheState() {
        var digester = Digester()
        digester.update(Array("ab".utf8))
        _ = digester.finalize()
        digester.update(Array("c".utf8))
        #expect(digester.finalize().encoded == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }
}
