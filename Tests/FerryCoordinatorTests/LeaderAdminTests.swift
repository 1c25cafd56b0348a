@testable import FerryCoordinator
import FerryCore
import FerryMesh
import FerryState
import Foundation
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

    @Test("a target waiting on an image the leader could not fetch shows the image's reason, unless it goes on with the held digests")
    func waitingTargetsShowTheImagesFailure() throws {
        var image = ImageRecord(reference: try ImageReference(parsing: "registry.test/app:1"), platform: try Platform(parsing: "linux/amd64"))
        image.state = .failed
        image.errorCode = "MANIFEST_UNKNOWN"
        image.errorMessage = "no such tag"
        var target = InstallTargetRecord(installId: 1, nodeId: 1, imageId: 1, position: 0)
        #expect(LeaderAdmin.error(of: target, image: image)?.message == "the leader could not fetch the image: no such tag")
        target.resolved = true
        #expect(LeaderAdmin.error(of: target, image: image) == nil, "another install's resolution failed; this one goes on")
        target.errorCode = "NOT_REACHED"
        target.errorMessage = "gone"
        #expect(LeaderAdmin.error(of: target, image: image)?.code == "NOT_REACHED", "its own error first")
    }

    @Test("the live warnings (full disk, silent upstream) join the recorded ones only while the install runs")
    func warningsWhileRunning() {
        let full = "the leader's disk is full: …"
        #expect(LeaderAdmin.warnings(recorded: "a\nb", running: true) { [full] } == ["a", "b", full])
        #expect(LeaderAdmin.warnings(recorded: "a", running: false) { [full] } == ["a"])
        #expect(LeaderAdmin.warnings(recorded: nil, running: false) { [full] } == nil)
        #expect(LeaderAdmin.warnings(recorded: nil, running: true) { [] } == nil)
    }

    @Test("an upstream download that has not moved for 10 s is a warning, in words that do not change with the figures")
    func silentUpstreamWarning() throws {
        let board = ProgressBoard()
        let (a, b) = (Digest.sha256(of: [1]), Digest.sha256(of: [2]))
        let start = ContinuousClock.now
        board.set(a, 100, now: start)
        board.set(b, 0, now: start)
        #expect(board.stalled(for: .seconds(10), now: start + .seconds(5)).isEmpty)
        // The same figure again is not a move; a new one is.
        board.set(a, 100, now: start + .seconds(6))
        #expect(Set(board.stalled(for: .seconds(10), now: start + .seconds(11)).keys) == [a, b])
        board.set(b, 50, now: start + .seconds(11))
        #expect(Set(board.stalled(for: .seconds(10), now: start + .seconds(11)).keys) == [a])
        board.remove(a)
        #expect(board.stalled(for: .seconds(10), now: start + .seconds(11)).isEmpty)

        #expect(LeaderAdmin.upstreamWarning(stalled: [:], needed: [a]) == nil)
        #expect(LeaderAdmin.upstreamWarning(stalled: [a: .seconds(25)], needed: [b]) == nil, "another install's blob")
        let one = try #require(LeaderAdmin.upstreamWarning(stalled: [a: .seconds(25)], needed: [a, b]))
        #expect(one.hasPrefix("the leader has received no byte from the upstream registry for 10 s or more of a blob it is fetching"), "\(one)")
        // The same words whatever the figures: `ferry install` prints a warning once.
        #expect(LeaderAdmin.upstreamWarning(stalled: [a: .seconds(12), b: .milliseconds(31_500)], needed: [a, b]) == one)
    }
}
