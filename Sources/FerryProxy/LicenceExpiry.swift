import FerryCore
import FerryFormats
import Foundation

/// `--expires`: an RFC 3339 time (`2027-01-31T00:00:00Z`) or a duration from now (`90d`, `12h`,
/// `30m`, `45s`).
public enum LicenceExpiry {
    public static func parse(_ text: String, now: Date = Date()) throws(FerryError) -> Date {
        let formatter = ISO8601DateFormatter()
        if let date = formatter.date(from: text) { return date }
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let date = formatter.date(from: text) { return date }
        let units: [Character: Double] = ["s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604_800]
        if let unit = text.last, let factor = units[unit], let count = Double(text.dropLast()), count > 0, count < 1e7 {
            return now.addingTimeInterval(count * factor)
        }
        throw FerryError(.configuration, "invalid expiry '\(text.prefix(60))': expected an RFC 3339 time (2027-01-31T00:00:00Z) or a duration (90d, 12h, 30m)")
    }
}
