import FerryCore
import Foundation
import Testing

@testable import FerryState

/// Every change of a target's state goes through `InstallTargetRecord.apply(_:now:)`.
@Suite("Target lifecycle")
struct TargetLifecycleTests {
    static let now = Date(timeIntervalSince1970: 1_000)

    static func target(_ state: TargetState) -> InstallTargetRecord {
        var target = InstallTargetRecord(installId: 1, nodeId: 2, imageId: 3, position: 0, now: Date(timeIntervalSince1970: 0))
        target.state = state
        return target
    }

    static func report(_ state: TargetState, starting: Bool = false) -> TargetEvent {
        .reported(TargetReportFields(state: state, bytesDone: 5, starting: starting))
    }

    @Test("reports follow canMove; the first transfer counts an attempt and stamps the start")
    func reports() {
        var target = Self.target(.waiting)
        #expect(target.apply(Self.report(.loading), now: Self.now) == .refused)
        #expect(target.state == .waiting && target.bytesDone == 0, "a refused event changes nothing")
        #expect(target.apply(Self.report(.transferring), now: Self.now) == .moved(from: .waiting, to: .transferring))
        #expect(target.attempts == 1 && target.startedAt == Self.now && target.bytesDone == 5)
        #expect(target.apply(Self.report(.transferring), now: Self.now) == .updated, "progress only")
        #expect(target.attempts == 1)
        #expect(target.apply(Self.report(.transferring, starting: true), now: Self.now) == .updated)
        #expect(target.attempts == 2, "a restart on the node counts")
        #expect(target.apply(Self.report(.done), now: Self.now) == .moved(from: .transferring, to: .done))
        #expect(target.finishedAt == Self.now)
        #expect(target.apply(Self.report(.done), now: Self.now) == .refused, "done is final, even to itself")
    }

    @Test("load slots: granted from ready or transferring, given back from loading only")
    func loads() {
        var ready = Self.target(.ready)
        #expect(ready.apply(.loadGivenBack, now: Self.now) == .refused)
        #expect(ready.apply(.loadGranted, now: Self.now) == .moved(from: .ready, to: .loading))
        #expect(ready.apply(.loadGivenBack, now: Self.now) == .moved(from: .loading, to: .ready))
        var waiting = Self.target(.waiting)
        #expect(waiting.apply(.loadGranted, now: Self.now) == .refused)
        var transferring = Self.target(.transferring)
        #expect(transferring.apply(.loadGranted, now: Self.now) == .moved(from: .transferring, to: .loading), "the overlapped pull")
        #expect(transferring.apply(.loadGranted, now: Self.now) == .updated, "asked again: still granted")
    }

    @Test("a slot held past its lease is taken back and counted; the lease ends; a node cannot take a slot by reporting that it loads")
    func lapses() {
        var done = Self.target(.done)
        #expect(done.apply(.loadLapsed, now: Self.now) == .refused)
        var ready = Self.target(.ready)
        #expect(ready.apply(Self.report(.loading), now: Self.now) == .refused, "only the leader grants a slot")
        #expect(ready.apply(.loadGranted, now: Self.now) == .moved(from: .ready, to: .loading))
        #expect(ready.loadGrantedAt == Self.now)
        #expect(ready.apply(Self.report(.loading), now: Self.now) == .updated, "loading, said again")
        // A restart, or a slot given back, keeps the lease's start.
        let later = Self.now.addingTimeInterval(50)
        #expect(ready.apply(Self.report(.transferring, starting: true), now: later) == .moved(from: .loading, to: .transferring))
        #expect(ready.apply(.loadGranted, now: later) == .moved(from: .transferring, to: .loading))
        #expect(ready.apply(.loadGivenBack, now: later) == .moved(from: .loading, to: .ready))
        #expect(ready.apply(.loadGranted, now: later) == .moved(from: .ready, to: .loading))
        #expect(ready.loadGrantedAt == Self.now)
        #expect(ready.apply(.loadLapsed, now: Self.now) == .moved(from: .loading, to: .ready))
        #expect(ready.loadLapses == 1 && ready.loadGrantedAt == nil)
        var again = ready
        #expect(again.apply(.loadGranted, now: later) == .moved(from: .ready, to: .loading))
        #expect(again.loadGrantedAt == later, "a new lease after a lapse")
        // Another target of the node whose lease ran out counts the lapse too, and stays where it is.
        var restarted = Self.target(.transferring)
        restarted.loadGrantedAt = Self.now
        #expect(restarted.apply(.loadLapsed, now: later) == .updated)
        #expect(restarted.state == .transferring && restarted.loadGrantedAt == nil && restarted.loadLapses == 1)
        #expect(ready.apply(Self.report(.done), now: Self.now) == .moved(from: .ready, to: .done), "a slow node that finishes after all is done")
    }

    @Test("a target loading while its blobs arrive: the transfer's reports are progress, only a restart moves it back")
    func loadingWhileTransferring() {
        var target = Self.target(.loading)
        target.attempts = 1
        #expect(target.apply(Self.report(.transferring), now: Self.now) == .updated)
        #expect(target.state == .loading && target.bytesDone == 5 && target.attempts == 1)
        #expect(target.apply(.reported(TargetReportFields(state: .ready, bytesDone: 9)), now: Self.now) == .updated, "the transfer ended")
        #expect(target.state == .loading && target.bytesDone == 9)
        #expect(target.apply(Self.report(.transferring, starting: true), now: Self.now) == .moved(from: .loading, to: .transferring))
        #expect(target.attempts == 2)
    }

    @Test("a failed image or a passed deadline fails what is unfinished, with the reason; finished targets stay")
    func failures() {
        var waiting = Self.target(.waiting)
        #expect(waiting.apply(.deadlinePassed(), now: Self.now) == .moved(from: .waiting, to: .failed))
        #expect(waiting.errorCode == "NOT_REACHED")
        #expect(waiting.errorMessage == "the node was not reached before the install deadline")
        var loading = Self.target(.loading)
        _ = loading.apply(.deadlinePassed(), now: Self.now)
        #expect(loading.errorMessage == "the node did not finish before the install deadline")
        // The leader itself did not hold the image: the upstream was the slower part.
        var short = Self.target(.transferring)
        _ = short.apply(.deadlinePassed(leaderHeld: 7_200_000, imageSize: 41_900_000), now: Self.now)
        #expect(short.errorCode == "NOT_REACHED")
        #expect(
            short.errorMessage?.hasPrefix(
                "the node did not finish before the install deadline; the leader itself held only 6.9 MiB of the image's 40.0 MiB from the upstream") == true,
            "\(short.errorMessage ?? "")")
        var transferring = Self.target(.transferring)
        #expect(transferring.apply(.imageFailed(FerryError(.blobUnknown, "gone")), now: Self.now) == .moved(from: .transferring, to: .failed))
        #expect(transferring.errorCode == "BLOB_UNKNOWN" && transferring.finishedAt == Self.now)
        var done = Self.target(.done)
        #expect(done.apply(.imageFailed(FerryError(.blobUnknown, "gone")), now: Self.now) == .refused)
        #expect(done.apply(.deadlinePassed(), now: Self.now) == .refused)
        #expect(done.errorCode == nil)
    }
}
