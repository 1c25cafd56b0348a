import FerryFormats
import FuzzSupport

/// `AuthChallenge.parse` on arbitrary `WWW-Authenticate` values. Schemes and parameter names
/// come out lowercased and non-empty; writing the challenges back out in the canonical form
/// (every value quoted and escaped) and parsing that gives the same challenges.
@main
enum AuthChallengeFuzz {
    static func main() { Fuzzer.run { fuzz($0, $1) } }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer?, _ count: Int) -> CInt {
    var input = FuzzInput(start, count)
    let header = input.restAsString()
    let challenges = AuthChallenge.parse(header)
    for challenge in challenges {
        invariant(!challenge.scheme.isEmpty, "\(quoted(header)) gave an empty scheme")
        invariant(challenge.scheme == challenge.scheme.lowercased(), "\(quoted(header)) gave the scheme \(quoted(challenge.scheme))")
        for name in challenge.parameters.keys {
            invariant(!name.isEmpty && name == name.lowercased(), "\(quoted(header)) gave the parameter name \(quoted(name))")
        }
    }
    let canonical = challenges.map(render).joined(separator: ", ")
    let reparsed = AuthChallenge.parse(canonical)
    invariant(reparsed == challenges, "\(quoted(header)) → \(quoted(canonical)) parses differently")
    return 0
}

/// `scheme name="value", …` with `\` and `"` escaped, parameters in a fixed order.
func render(_ challenge: AuthChallenge) -> String {
    let parameters = challenge.parameters.sorted { $0.key < $1.key }.map { name, value in
        // Byte by byte, as the parser reads: a quote followed by a combining mark is one
        // Character but still ends a quoted string.
        var escaped: [UInt8] = []
        for byte in value.utf8 {
            if byte == UInt8(ascii: "\\") || byte == UInt8(ascii: "\"") { escaped.append(UInt8(ascii: "\\")) }
            escaped.append(byte)
        }
        return "\(name)=\"\(String(decoding: escaped, as: UTF8.self))\""
    }
    return ([challenge.scheme] + [parameters.joined(separator: ", ")]).filter { !$0.isEmpty }.joined(separator: " ")
}
