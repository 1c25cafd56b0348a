import FerryCore
import FerryPolicy
import FuzzSupport

/// `ByteSize.parse` and `ByteSize.parseRate` on arbitrary text (operators' flags): never a
/// trap, sizes are never negative, and a rate that parses is above zero and makes a working
/// `RateLimiter` (which traps on zero).
@main
enum ByteSizeFuzz {
    static func main() { Fuzzer.run { fuzz($0, $1) } }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer?, _ count: Int) -> CInt {
    var input = FuzzInput(start, count)
    let text = input.restAsString()
    if let size = try? ByteSize.parse(text) {
        invariant(size >= 0, "the size \(quoted(text)) parsed to \(size)")
        _ = ByteSize.format(size)
    }
    if let rate = try? ByteSize.parseRate(text) {
        invariant(rate > 0, "the rate \(quoted(text)) parsed to \(rate)")
        let limiter = RateLimiter(bytesPerSecond: rate)
        invariant(limiter.reserve(1) >= .zero, "a limiter at \(rate) bytes/s asks for a negative wait")
    }
    return 0
}
