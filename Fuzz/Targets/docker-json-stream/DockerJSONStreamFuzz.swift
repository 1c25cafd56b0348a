import FerryFormats
import FuzzSupport
import NIOCore

/// `DockerJSONMessageParser` on an arbitrary stream, fed in pieces whose lengths come from the
/// input (some as `ByteBuffer`s, some empty), then `finish()`. However the stream is split, it
/// yields the same messages, or fails with the same error, as when fed in one piece.
@main
enum DockerJSONStreamFuzz {
    static func main() { Fuzzer.run { fuzz($0, $1) } }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer?, _ count: Int) -> CInt {
    var input = FuzzInput(start, count)
    let seed = input.byte()
    let stream = Array(input.rest())

    let whole = parse([stream[...]])

    var pieces: [ArraySlice<UInt8>] = []
    var offset = 0
    var state = UInt32(seed) &* 2_654_435_761 &+ 1
    while offset < stream.count {
        state = state &* 1_103_515_245 &+ 12345 &+ UInt32(stream[offset])
        let length = Int(state >> 16) % 9  // 0...8: empty pieces too
        let end = min(offset + length, stream.count)
        pieces.append(stream[offset..<end])
        offset = end
    }
    let split = parse(pieces)
    invariant(split == whole, "split into \(pieces.map(\.count)) the stream gives \(split), in one piece \(whole)")
    return 0
}

enum Outcome: Equatable, CustomStringConvertible {
    case messages([DockerJSONMessage])
    case failed(String)

    var description: String {
        switch self {
        case .messages(let messages): "\(messages.count) messages"
        case .failed(let message): "error \(quoted(message))"
        }
    }
}

/// Feeds `pieces` in order, odd ones as a `ByteBuffer`'s bytes (as `DockerClient` does), then finishes.
func parse(_ pieces: [ArraySlice<UInt8>]) -> Outcome {
    var parser = DockerJSONMessageParser()
    var messages: [DockerJSONMessage] = []
    do {
        for (index, piece) in pieces.enumerated() {
            if index % 2 == 1 {
                messages += try parser.feed(ByteBuffer(bytes: piece).readableBytesView)
            } else {
                messages += try parser.feed(piece)
            }
        }
        messages += try parser.finish()
    } catch {
        return .failed(error.message)
    }
    for message in messages { _ = message.errorMessage }
    return .messages(messages)
}
