import Crypto
import FerryFormats
import Foundation
import FuzzSupport

/// `ProxyToken.verify` and `TokenScope.pullRepositories` on arbitrary input: no crash, and what
/// verifies re-signs to a token that verifies to the same claims; scopes give only proxy names.
@main
enum ProxyTokenFuzz {
    static func main() { Fuzzer.run { fuzz($0, $1) } }
}

let key = SymmetricKey(data: [UInt8](repeating: 7, count: 32))

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer?, _ count: Int) -> CInt {
    var input = FuzzInput(start, count)
    let text = input.restAsString()
    let now = Date(timeIntervalSince1970: 1_800_000_000)
    if case .success(let token) = ProxyToken.verify(text, key: key, now: now) {
        let resigned = ProxyToken.verify(token.sign(key: key), key: key, now: now)
        invariant(resigned == .success(token), "\(quoted(text)) verified, but its claims do not re-sign to the same token")
    }
    for repository in TokenScope.pullRepositories([text]) {
        invariant(ProxyRepository(name: repository.description) == repository, "scope \(quoted(text)) gave \(quoted(repository.description))")
    }
    return 0
}
