import CLibFuzzer

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What every fuzz target shares: the libFuzzer entry, invariant checks and input slicing.
public enum Fuzzer {
    /// The C signature libFuzzer calls for each input.
    public typealias TestOneInput = @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt

    /// Hands control to libFuzzer's driver, which parses the command line (`-max_total_time=…`,
    /// corpus directories, a crash file to reproduce) and calls `test` for each input.
    public static func run(_ test: TestOneInput) -> Never {
        var argc = CommandLine.argc
        var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
        exit(LLVMFuzzerRunDriver(&argc, &argv, test))
    }
}

/// Stops the process when a property of the code under test does not hold, so that libFuzzer
/// records the input as a crash (the message names the property).
public func invariant(
    _ condition: @autoclosure () -> Bool,
    _ message: @autoclosure () -> String,
    file: StaticString = #fileID,
    line: UInt = #line
) {
    if !condition() {
        fatalError("invariant violated: \(message())", file: file, line: line)
    }
}

/// The fuzzer's bytes, read front to back: a few control bytes, then the payload.
public struct FuzzInput {
    public private(set) var bytes: ArraySlice<UInt8>

    public init(_ start: UnsafeRawPointer?, _ count: Int) {
        guard let start, count > 0 else {
            bytes = []
            return
        }
        bytes = ArraySlice(UnsafeRawBufferPointer(start: start, count: count))
    }

    /// The next byte, or 0 once the input is used up.
    public mutating func byte() -> UInt8 {
        bytes.popFirst() ?? 0
    }

    /// The next eight bytes as a little-endian integer (missing bytes read as 0).
    public mutating func uint64() -> UInt64 {
        var value: UInt64 = 0
        for shift in stride(from: 0, to: 64, by: 8) {
            value |= UInt64(byte()) << UInt64(shift)
        }
        return value
    }

    /// The remaining bytes, consuming them.
    public mutating func rest() -> ArraySlice<UInt8> {
        defer { bytes = [] }
        return bytes
    }

    /// The remaining bytes as a string (invalid UTF-8 repaired, as a server's header parser would).
    public mutating func restAsString() -> String {
        String(decoding: rest(), as: UTF8.self)
    }
}

/// Renders `text` for an invariant message: escaped, so control bytes stay readable.
public func quoted(_ text: some StringProtocol) -> String {
    String(reflecting: String(text))
}
