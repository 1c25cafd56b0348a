import FerryCore
import FerryMesh
import Foundation
import Testing

@Suite("InstallStatus.stateKey")
struct InstallStatusStateKeyTests {
    static func status(_ state: TargetState = .transferring, bytes: Int64 = 0, note: String? = nil) -> InstallStatus {
        InstallStatus(
            id: 1, state: .running, images: ["r/app:1"], nodes: ["n1"], maxParallel: 4, createdAt: Date(timeIntervalSince1970: 0),
            finishedAt: nil, deadlineAt: nil,
            targets: [
                TargetStatus(
                    id: 3, node: "n1", image: "r/app:1", state: state, bytesDone: bytes, bytesTotal: 100, attempts: 1, error: nil, note: note,
                    startedAt: nil, finishedAt: nil)
            ])
    }

    @Test("byte counts and notes leave the key alone; a target's or the install's state changes it")
    func keyFollowsStatesOnly() {
        let base = Self.status().stateKey
        #expect(base.count == 16 && base.allSatisfy(\.isHexDigit))
        #expect(Self.status(bytes: 60).stateKey == base)
        #expect(Self.status(.loading).stateKey != base)
        #expect(Self.status(note: "waiting for a load slot").stateKey == base)
        var finished = Self.status(.done)
        let done = finished.stateKey
        finished.state = .done
        #expect(finished.stateKey != done)
    }
}
