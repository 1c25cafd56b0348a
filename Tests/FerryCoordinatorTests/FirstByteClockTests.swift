import Testing

@testable import FerryCoordinator

@Suite("FirstByteClock")
struct FirstByteClockTests {
    @Test("the first byte is the first progress past the start's offset; a restart starts over")
    func firstByte() {
        let clock = FirstByteClock()
        clock.started(at: 100)
        #expect(clock.metadata["first_byte_ms"] == nil && clock.metadata["duration_ms"] != nil)
        clock.progressed(to: 100)
        #expect(clock.metadata["first_byte_ms"] == nil, "the bytes held at the start are no first byte")
        clock.progressed(to: 101)
        #expect(clock.metadata["first_byte_ms"] != nil)
        clock.started(at: 0)
        #expect(clock.metadata["first_byte_ms"] == nil, "a retry times its own first byte")
    }
}
