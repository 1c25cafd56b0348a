import Foundation
import Testing

@testable import FerryCoordinator

/// An audit's node kept using a certificate its renewal had revoked (it could not store the
/// answer), and the leader refused every renewal as "not due" for half the new one's life.
@Suite("CertificateReissues")
struct CertificateReissuesTests {
    @Test("a node presenting another certificate than the one last issued may renew out of its window, once a day")
    func oncePerDay() {
        let reissues = CertificateReissues()
        let now = Date()
        #expect(!reissues.note(node: 1, presented: "0A", recorded: "0a"), "the same serial, in another case")
        #expect(!reissues.mayReissue(node: 1, now: now))
        #expect(!reissues.note(node: 1, presented: nil, recorded: "0a"), "an older follower says nothing")
        #expect(!reissues.note(node: 1, presented: "0b", recorded: nil), "nothing recorded: the leader asks anyway")
        #expect(reissues.note(node: 1, presented: "0b", recorded: "0a"))
        #expect(reissues.mayReissue(node: 1, now: now) && !reissues.mayReissue(node: 2, now: now))
        reissues.reissued(node: 1, now: now)
        #expect(!reissues.mayReissue(node: 1, now: now), "renewed: it presents the new one next")
        #expect(reissues.note(node: 1, presented: "0c", recorded: "0d"))
        #expect(!reissues.mayReissue(node: 1, now: now.addingTimeInterval(3600)), "not again within a day")
        #expect(reissues.mayReissue(node: 1, now: now.addingTimeInterval(CertificateReissues.interval)))
        #expect(!reissues.note(node: 1, presented: "0d", recorded: "0d"))
        #expect(!reissues.mayReissue(node: 1, now: now.addingTimeInterval(CertificateReissues.interval)), "it uses the right one again")
    }
}
