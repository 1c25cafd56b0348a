import FerryCore
import Foundation
import Testing

@Suite("Digest")
struct DigestTests {
    static let hex64 = String(repeating: "a1", count: 32)
    static let hex128 = String(repeating: "0f", count: 64)

    static let validInputs: [String] = [
        "sha256:" + hex64,
        "sha512:" + hex128,
        "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    ]

    @Test("accepts sha256 and sha512 with lowercase hex", arguments: validInputs)
    func valid(_ text: String) throws {
        let digest = try Digest(parsing: text)
        #expect(digest.description == text)
        #expect(Digest(text) == digest)
        #expect("\(digest.algorithm.rawValue):\(digest.encoded)" == text)
    }

    static let invalidInputs: [String] = [
        "",
        "sha256",
        "sha256:",
        ":" + hex64,
        "sha256:" + hex64.uppercased(),
        "sha256:" + String(hex64.dropLast()) + "A",
        "SHA256:" + hex64,
        "sha256:" + String(hex64.dropLast()),
        "sha256:" + hex64 + "0",
        "sha512:" + hex64,
        "sha256:" + hex128,
        "md5:d41d8cd98f00b204e9800998ecf8427e",
        "sha1:da39a3ee5e6b4b0d3255bfef95601890afd80709",
        "sha256:../../etc",
        "sha256:../../etc/passwd" + String(repeating: "a", count: 48),
        "sha256:" + String(hex64.dropLast(2)) + "/a",
        "sha256:" + String(hex64.dropLast()) + "g",
        "sha256:" + String(hex64.dropLast()) + "\u{0}",
        " sha256:" + hex64,
        "sha256:" + hex64 + " ",
        "sha256:totallywrong",
        "sha256:" + String(hex64.dropLast()) + "é",
    ]

    @Test("rejects malformed digests with DIGEST_INVALID", arguments: invalidInputs)
    func invalid(_ text: String) {
        #expect(throws: FerryError.self) { try Digest(parsing: text) }
        do {
            _ = try Digest(parsing: text)
        } catch {
            #expect(error.code == .invalidDigest)
            #expect(!error.message.isEmpty)
        }
        #expect(Digest(text) == nil)
    }

    @Test func errorMessageIsBoundedForHugeInput() {
        let huge = "sha256:" + String(repeating: "z", count: 100_000)
        do {
            _ = try Digest(parsing: huge)
            Issue.record("a 100k-character digest parsed")
        } catch {
            #expect(error.message.count < 400)
        }
    }

    @Test func sha256OfBytes() {
        #expect(Digest.sha256(of: Array("abc".utf8)).encoded == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(Digest.sha256(of: [UInt8]()).encoded == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    }

    @Test func shortIDIsFirstTwelveHexDigits() throws {
        let digest = try Digest(parsing: "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(digest.shortID == "e3b0c44298fc")
    }

    @Test func codableRoundTripAndValidation() throws {
        let digest = try Digest(parsing: "sha256:" + Self.hex64)
        let data = try JSONEncoder().encode([digest])
        #expect(String(decoding: data, as: UTF8.self) == "[\"sha256:\(Self.hex64)\"]")
        #expect(try JSONDecoder().decode([Digest].self, from: data) == [digest])
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode([Digest].self, from: Data(#"["sha256:../../etc"]"#.utf8))
        }
    }

    @Test func orderingFollowsTheStringForm() throws {
        let a = try Digest(parsing: "sha256:" + String(repeating: "0", count: 64))
        let b = try Digest(parsing: "sha256:" + String(repeating: "1", count: 64))
        #expect(a < b)
        #expect(!(b < a))
        #expect([b, a].sorted() == [a, b])
    }
}
