@testable import FerryCoordinator
import Testing

@Suite("The leader's admin answers")
struct LeaderAdminTests {
    private static let mebibyte: Int64 = 1024 * 1024

    @Test("A running install warns of the leader's full disk below the store's reserve (at least 16 MiB), in words that do not change with the figure")
    func fullDiskWarning() {
        let directory = "/var/lib/ferry/store"
        #expect(LeaderAdmin.diskWarning(free: 300 * Self.mebibyte, reserve: 256 * Self.mebibyte, directory: directory) == nil)
        #expect(LeaderAdmin.diskWarning(free: nil, reserve: 256 * Self.mebibyte, directory: directory) == nil, "an unknown figure says nothing")
        let full = LeaderAdmin.diskWarning(free: 200 * Self.mebibyte, reserve: 256 * Self.mebibyte, directory: directory)
        #expect(full?.hasPrefix("the leader's disk is full: less than 256.0 MiB is free in /var/lib/ferry/store") == true, "\(full ?? "nil")")
        #expect(LeaderAdmin.diskWarning(free: 3, reserve: 256 * Self.mebibyte, directory: directory) == full)
        // With no reserve, what SQLite and the logs need.
        #expect(LeaderAdmin.diskWarning(free: 20 * Self.mebibyte, reserve: 0, directory: directory) == nil)
        #expect(LeaderAdmin.diskWarning(free: 10 * Self.mebibyte, reserve: 0, directory: directory)?.contains("less than 16.0 MiB") == true)
    }

    @Test("the full-disk warning joins the recorded ones only while the install runs")
    func warningsWhileRunning() {
        let full = "the leader's disk is full: …"
        #expect(LeaderAdmin.warnings(recorded: "a\nb", running: true) { full } == ["a", "b", full])
        #expect(LeaderAdmin.warnings(recorded: "a", running: false) { full } == ["a"])
        #expect(LeaderAdmin.warnings(recorded: nil, running: false) { full } == nil)
        #expect(LeaderAdmin.warnings(recorded: nil, running: true) { nil } == nil)
    }
}
