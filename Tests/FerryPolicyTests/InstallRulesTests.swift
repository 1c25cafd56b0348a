import FerryCore
import FerryPolicy
import Testing

@Suite("Install target states and rules")
struct InstallRulesTests {
    @Test("allowed transitions", arguments: [
        (TargetState.waiting, TargetState.transferring, true),
        (.transferring, .ready, true),
        (.ready, .loading, true),
        (.loading, .done, true),
        (.waiting, .done, true),  // already in the engine
        (.waiting, .failed, true),
        (.transferring, .transferring, true),
        (.loading, .transferring, true),  // a node restarting the image
        (.loading, .ready, true),  // a load slot given back
        (.waiting, .ready, false),
        (.waiting, .loading, false),
        (.transferring, .loading, false),
        (.ready, .waiting, false),
        (.done, .transferring, false),
        (.done, .failed, false),
        (.failed, .done, false),
        (.failed, .transferring, false),
    ])
    func transitions(from: TargetState, to: TargetState, allowed: Bool) {
        #expect(from.canMove(to: to) == allowed)
    }

    @Test("who may take a load slot, and which reports leave a loading target loading")
    func slotsWhileTransferring() {
        #expect(TargetState.allCases.filter(\.mayTakeLoadSlot) == [.transferring, .ready])
        #expect(TargetState.loading.keepsLoading(onReport: .transferring, starting: false))
        #expect(TargetState.loading.keepsLoading(onReport: .ready, starting: false))
        #expect(!TargetState.loading.keepsLoading(onReport: .transferring, starting: true), "a restart")
        #expect(!TargetState.loading.keepsLoading(onReport: .done, starting: false))
        #expect(!TargetState.ready.keepsLoading(onReport: .transferring, starting: false))
    }

    @Test func loadSlots() {
        #expect(InstallRules.mayLoad(node: 1, loadingNodes: [], maxParallel: 1))
        #expect(!InstallRules.mayLoad(node: 2, loadingNodes: [1], maxParallel: 1))
        #expect(InstallRules.mayLoad(node: 1, loadingNodes: [1], maxParallel: 1), "a node loading one image may load the next")
        #expect(InstallRules.mayLoad(node: 3, loadingNodes: [1, 2], maxParallel: 3))
        #expect(!InstallRules.mayLoad(node: 3, loadingNodes: [1, 2], maxParallel: 2))
        #expect(InstallRules.mayLoad(node: 1, loadingNodes: [], maxParallel: 0), "a limit below one counts as one")
        #expect(!InstallRules.mayLoad(node: 2, loadingNodes: [1], maxParallel: 0))
    }

    @Test func outcome() {
        #expect(InstallRules.outcome(of: [.done, .loading]) == nil)
        #expect(InstallRules.outcome(of: [.done, .done])! == (true, false))
        #expect(InstallRules.outcome(of: [.done, .failed])! == (false, true))
        #expect(InstallRules.outcome(of: [])! == (true, false))
    }

    @Test("a load slot's lease: the minimum, or longer for an image that needs longer at 2 MiB/s; a holder gives way to a node that lapsed less")
    func loadLease() {
        #expect(InstallRules.loadLease(imageSizes: [100 * 1024 * 1024], minimum: .seconds(600)) == .seconds(600))
        #expect(InstallRules.loadLease(imageSizes: [4 * 1024 * 1024 * 1024], minimum: .seconds(600)) == .seconds(2048))
        #expect(InstallRules.loadLease(imageSizes: [-1], minimum: .seconds(3)) == .seconds(3))
        #expect(InstallRules.loadLease(imageSizes: [], minimum: .seconds(3)) == .seconds(3))
        // An install of many small images: 30 s for each past the first, not one image's minimum shared out.
        #expect(InstallRules.loadLease(imageSizes: Array(repeating: 1024 * 1024, count: 100), minimum: .seconds(600)) == .seconds(600 + 99 * 30))
        #expect(InstallRules.loadLease(imageSizes: [1, 1, 1], minimum: .seconds(5)) == .seconds(15))
        // Absurd sizes from an upstream's manifest saturate rather than trap.
        #expect(InstallRules.loadLease(imageSizes: [.max, .max], minimum: .seconds(5)) == .seconds(Int64.max / InstallRules.loadLeaseRate) + .seconds(5))
        #expect(InstallRules.mayTakeSlot(askerLapses: 0, holderLapses: 1))
        #expect(!InstallRules.mayTakeSlot(askerLapses: 0, holderLapses: 0), "a holder within its first lease keeps its slot")
        #expect(InstallRules.mayTakeSlot(askerLapses: 1, holderLapses: 2), "an honest node that lapsed once goes before the liar")
        #expect(!InstallRules.mayTakeSlot(askerLapses: 2, holderLapses: 2))
    }

    @Test func reachability() {
        let now = ContinuousClock.now
        #expect(InstallRules.isReachable(lastSeen: now - .seconds(14), now: now, heartbeat: .seconds(5)))
        #expect(!InstallRules.isReachable(lastSeen: now - .seconds(16), now: now, heartbeat: .seconds(5)))
        #expect(!InstallRules.isReachable(lastSeen: nil, now: now, heartbeat: .seconds(5)))
    }
}
