import Foundation
import Testing

@testable import FerryRegistry

@Suite("RetryAfter.parse")
struct RetryAfterTests {
    static func httpDate(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
        return formatter.string(from: date)
    }

    @Test(arguments: [("120", Duration.seconds(120)), ("0", .zero), (" 7 ", .seconds(7)), ("-5", .zero)])
    func delaySeconds(_ header: String, _ expected: Duration) {
        #expect(RetryAfter.parse(header) == expected)
    }

    @Test func futureHTTPDateGivesTheRemainingTime() throws {
        let header = Self.httpDate(Date().addingTimeInterval(3600))
        let delay = try #require(RetryAfter.parse(header))
        // The header has whole seconds, so up to a second is lost; the bound is generous.
        #expect(delay <= .seconds(3600))
        #expect(delay >= .seconds(3500))
    }

    @Test func pastHTTPDateMeansNow() {
        #expect(RetryAfter.parse("Wed, 21 Oct 2015 07:28:00 GMT") == .zero)
    }

    @Test(arguments: ["", "soon", "1.5", "12abc", "Wed, 99 Foo 2015 07:28:00 GMT", "2015-10-21T07:28:00Z", "\u{0}"])
    func garbageIsNil(_ header: String) {
        #expect(RetryAfter.parse(header) == nil)
    }
}
