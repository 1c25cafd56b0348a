import FerryCore
import FerryPolicy
import Logging
import NIOCore
import Synchronization
import FerryTestSupport
import Foundation
import Testing

@testable import FerryProxy

@Suite("Proxy limits and the uncached stream")
struct ProxyLimitTests {
    @Test func streamCounterCapsEachLicenceAlone() {
        let counter = StreamCounter(limit: 2)
        let first = counter.acquire(1), second = counter.acquire(1)
        #expect(first != nil && second != nil)
        #expect(counter.acquire(1) == nil, "a third stream of licence 1")
        #expect(counter.acquire(2) != nil, "another licence is not held up")
        first?.release()
        #expect(counter.count(1) == 1)
        #expect(counter.acquire(1) != nil)
    }

    @Test("requests past the limit wait their turn in order, a bounded number and time; a cancelled one stops waiting; close sends them away")
    func streamCounterQueuesPastTheLimit() async throws {
        let counter = StreamCounter(limit: 1, maxWaiters: 2)
        func slot(_ acquired: StreamCounter.Acquired) -> StreamCounter.Slot? {
            if case .slot(let slot) = acquired { return slot }
            return nil
        }
        let first = try #require(slot(await counter.acquire(1, waitingAtMost: .seconds(60))))
        guard case .queueFull = await counter.acquire(1, waitingAtMost: .zero) else { Issue.record("no wait: refused at once"); return }
        final class Order: Sendable { let names = Mutex<[String]>([]) }
        let order = Order()
        let second = Task {
            let acquired = await counter.acquire(1, waitingAtMost: .seconds(60))
            order.names.withLock { $0.append("second") }
            return slot(acquired)
        }
        try await waitUntil("the second request waiting") { counter.waiting(1) == 1 }
        let third = Task {
            let acquired = await counter.acquire(1, waitingAtMost: .seconds(60))
            order.names.withLock { $0.append("third") }
            return slot(acquired)
        }
        try await waitUntil("the third request waiting") { counter.waiting(1) == 2 }
        guard case .queueFull = await counter.acquire(1, waitingAtMost: .seconds(60)) else { Issue.record("past maxWaiters: refused at once"); return }
        #expect(slot(await counter.acquire(2, waitingAtMost: .zero)) != nil, "another licence is not held up")

        first.release()
        first.release()  // once only: a second release gives nothing more
        let secondSlot = try #require(await second.value)
        #expect(order.names.withLock { $0 } == ["second"] && counter.count(1) == 1, "the slot passed to the longest waiting")
        #expect(counter.waiting(1) == 1)
        secondSlot.release()
        let thirdSlot = try #require(await third.value)
        #expect(order.names.withLock { $0 } == ["second", "third"])

        // A wait that runs out, and a cancelled one, give up their place.
        guard case .timedOut = await counter.acquire(1, waitingAtMost: .milliseconds(50)) else { Issue.record("the wait ran out"); return }
        let cancelled = Task { await counter.acquire(1, waitingAtMost: .seconds(60)) }
        try await waitUntil("the cancelled request waiting") { counter.waiting(1) == 1 }
        cancelled.cancel()
        guard case .closed = await cancelled.value else { Issue.record("cancelled"); return }
        #expect(counter.waiting(1) == 0)
        // The proxy stopping: a request waiting behind the third's stream is sent away.
        let waiter = Task { slot(await counter.acquire(1, waitingAtMost: .seconds(60))) != nil }
        try await waitUntil("a request waiting behind the held slot") { counter.waiting(1) == 1 }
        counter.close()
        #expect(await waiter.value == false, "close sends the waiting requests away")
        guard case .closed = await counter.acquire(1, waitingAtMost: .seconds(60)) else { Issue.record("closed: nobody waits"); return }
        thirdSlot.release()  // held (and alive) until here
    }

    @Test("a slot that is dropped without release() is released: its licence is not held for good")
    func droppedSlotIsReleased() {
        let counter = StreamCounter(limit: 1)
        do {
            let slot = counter.acquire(7)
            #expect(slot != nil && counter.count(7) == 1)
        }
        #expect(counter.count(7) == 0)
    }

    @Test func licenceLimitersAreSharedPerLicenceAndFollowTheRate() {
        let limiters = LicenceLimiters()
        #expect(limiters.limiter(1, rate: 1000) === limiters.limiter(1, rate: 1000))
        #expect(limiters.limiter(1, rate: 1000) !== limiters.limiter(2, rate: 1000))
        #expect(limiters.limiter(1, rate: 2000).rate == 2000, "a changed --max-rate takes effect")
    }

    /// Feeds `blob` to a sink in `chunk`-byte pieces; what the consumer got before and after `finish`.
    static func stream(
        _ blob: [UInt8], digest: Digest, range: Range<Int64>? = nil, chunk: Int = 7, restartAfter: Int? = nil
    ) async throws -> (beforeFinish: [UInt8], all: [UInt8]) {
        var received: [UInt8] = []
        let sink = VerifyingStreamSink(
            digest: digest, size: Int64(blob.count), range: range ?? 0..<Int64(blob.count), consume: { received += Array(buffer: $0) })
        var offset = 0
        var restarted = false
        while offset < blob.count {
            if let restartAfter, !restarted, offset >= restartAfter {
                // The registry ignored Range: the download starts over from byte 0.
                restarted = true
                try await sink.reset()
                offset = 0
            }
            let end = min(offset + chunk, blob.count)
            try await sink.write(ByteBuffer(bytes: blob[offset..<end]))
            offset = end
        }
        let before = received
        try await sink.finish()
        return (before, received)
    }

    @Test func uncachedStreamHoldsTheLastByteUntilVerified() async throws {
        let blob = (0..<100).map { UInt8($0) }
        let digest = Digest.sha256(of: blob)
        let whole = try await Self.stream(blob, digest: digest)
        #expect(whole.beforeFinish == Array(blob.dropLast()))
        #expect(whole.all == blob)
        let middle = try await Self.stream(blob, digest: digest, range: 10..<20)
        #expect(middle.all == Array(blob[10..<20]))
        let tail = try await Self.stream(blob, digest: digest, range: 95..<100)
        #expect(tail.beforeFinish == Array(blob[95..<99]) && tail.all == Array(blob[95..<100]))
        // A restart from zero before any byte of the range was sent re-hashes, and sends no byte twice...
        let restarted = try await Self.stream(blob, digest: digest, range: 50..<100, restartAfter: 40)
        #expect(restarted.all == Array(blob[50..<100]))
        // ...after bytes were sent it cuts the response: they would never be compared with the new ones.
        await #expect(throws: FerryError.self) { _ = try await Self.stream(blob, digest: digest, restartAfter: 40) }
    }

    @Test func anEmptyBlobMustHaveTheEmptyDigest() throws {
        try ProxyUpstream.checkEmpty(Digest.sha256(of: [UInt8]()), size: 0)
        try ProxyUpstream.checkEmpty(Digest.sha256(of: [1]), size: 1)
        #expect(throws: FerryError.self) { try ProxyUpstream.checkEmpty(Digest.sha256(of: [1]), size: 0) }
    }

    @Test func uncachedStreamRefusesWrongBytesBeforeTheLastOne() async throws {
        let blob = (0..<100).map { UInt8($0) }
        var wrong = blob
        wrong[50] ^= 0xff
        await #expect(throws: FerryError.self) { _ = try await Self.stream(wrong, digest: Digest.sha256(of: blob)) }
        // Too few or too many bytes.
        var received = 0
        let short = VerifyingStreamSink(digest: Digest.sha256(of: blob), size: 100, range: 0..<100, consume: { received += $0.readableBytes })
        try await short.write(ByteBuffer(bytes: blob[0..<60]))
        await #expect(throws: FerryError.self) { try await short.finish() }
        #expect(received == 60)
        let long = VerifyingStreamSink(digest: Digest.sha256(of: blob), size: 100, range: 0..<100, consume: { _ in })
        await #expect(throws: FerryError.self) { try await long.write(ByteBuffer(bytes: blob + [1])) }
    }
}

/// Refused credentials are counted and logged, a flood in a few lines.
@Suite("Proxy auth failures")
struct ProxyAuthFailuresTests {
    @Test func aFloodOfRefusalsIsLoggedOncePerIntervalWithACount() async throws {
        let capture = CapturingLogHandler()
        let failures = ProxyAuthFailures(logger: Logger(label: "test") { _ in capture }, interval: .milliseconds(300))
        for _ in 0..<5 { failures.record(.init(reason: "unknown-licence"), client: "192.0.2.7") }
        #expect(capture.records.withLock { $0.count } == 1)
        // A revoked licence in use is not hidden by the flood: its own line.
        failures.record(.init(reason: "revoked", licence: 12), client: nil)
        failures.record(.init(reason: "revoked", licence: 12), client: nil)
        #expect(capture.records.withLock { $0.count } == 2)
        try await Task.sleep(for: .milliseconds(350))
        failures.record(.init(reason: "unknown-licence"), client: "192.0.2.8")
        let lines = capture.records.withLock { $0 }
        #expect(lines.count == 3)
        #expect(lines[0].contains("refused credentials") && lines[0].contains("unknown-licence") && lines[0].contains("192.0.2.7"), "\(lines)")
        #expect(lines[1].contains("revoked") && lines[1].contains("\"licence\": 12"), "\(lines)")
        #expect(lines[2].contains("192.0.2.8") && lines[2].contains("\"refused_before_unlogged\": 4"), "\(lines)")
    }
}

/// A stream's licence check: a revoke seen within the re-read interval, an expiry at once, the
/// database never in the way of a write.
@Suite("Licence watch")
struct LicenceWatchTests {
    @Test func aRevokeIsSeenWithinTheIntervalAndAnExpiryAtOnce() async throws {
        let directory = try TemporaryDirectory("licence-watch")
        defer { directory.remove() }
        let database = try ProxyDirectory(directory.sub("proxy")).openDatabase()
        try await database.putApp(ProxyApp(name: "shop", registries: ["vendor": "127.0.0.1:1"]))
        let licence = try await database.createLicence(
            hash: LicenceID.generate().hash, app: "shop", customer: "c", images: [], expiresAt: nil, maxRate: nil)
        let watch = LicenceWatch(licence: licence, database: database, interval: .milliseconds(50), tolerance: .seconds(300), logger: Logger(label: "test"))
        try watch.check()
        _ = try await database.revokeLicence(id: licence.id)
        try await waitUntil("the revoke seen") {
            do {
                try watch.check()
                return false
            } catch let error as ProxyError {
                return error.refused?.reason == "revoked" && error.error.code == .denied
            }
        }
        // Expiry from the licence held: no database read (an interval of an hour) needed.
        let expired = try await database.createLicence(
            hash: LicenceID.generate().hash, app: "shop", customer: "d", images: [], expiresAt: Date().addingTimeInterval(-1), maxRate: nil)
        let held = LicenceWatch(licence: expired, database: database, interval: .seconds(3600), tolerance: .seconds(300), logger: Logger(label: "test"))
        #expect(throws: ProxyError.self) { try held.check() }
    }
}
