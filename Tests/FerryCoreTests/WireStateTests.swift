import FerryCore
import Foundation
import Testing

/// States travel as their raw strings; an unknown one is a clear decoding error.
@Suite("Wire states")
struct WireStateTests {
    struct Carrier: Codable, Equatable {
        var target: TargetState
        var image: ImageState
    }

    @Test("states encode as their names and decode back")
    func roundTrip() throws {
        let data = try JSONEncoder().encode(Carrier(target: .transferring, image: .present))
        #expect(String(decoding: data, as: UTF8.self).contains("\"transferring\""))
        #expect(try JSONDecoder().decode(Carrier.self, from: data) == Carrier(target: .transferring, image: .present))
    }

    @Test("an unknown state names the value and the states this version knows")
    func unknown() throws {
        let data = Data(#"{"target":"teleporting","image":"present"}"#.utf8)
        do {
            _ = try JSONDecoder().decode(Carrier.self, from: data)
            Issue.record("an unknown state must not decode")
        } catch DecodingError.dataCorrupted(let context) {
            #expect(context.debugDescription.contains("unknown TargetState 'teleporting'"))
            #expect(context.debugDescription.contains("waiting, transferring, ready, loading, done, failed"))
        }
    }
}
