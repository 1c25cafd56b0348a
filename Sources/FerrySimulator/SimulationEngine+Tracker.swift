import FerryCore
import FerryPolicy

extension SimulationEngine {
    /// A follower's requests reach the tracker: one source per blob, in blob order.
    mutating func handleRequest(_ requester: Int32) {
        for blob in 0..<Int32(blobCount) {
            assign(requester, blob)
        }
    }

    /// A follower's request for one blob, again: the last answer had no source.
    mutating func handleRetry(_ requester: Int32, aux: UInt32) {
        assign(requester, Int32(aux & 0xFFFF), attempt: Int(aux >> 16))
    }

    /// The receiver's `receiving` event reaches the tracker (only with `--receiving-known report`).
    mutating func handleReceivingKnown(_ flow: Int32) {
        let current = flows[Int(flow)]
        tracker.receiving(names[Int(current.receiver)], digest: digests[Int(current.blob)])
    }

    /// The receiver's `present` event: it is a complete source from now on, and its transfer no
    /// longer counts against its source's slots.
    mutating func handlePresentKnown(_ flow: Int32) {
        let current = flows[Int(flow)]
        tracker.present(names[Int(current.receiver)], digest: digests[Int(current.blob)])
    }

    /// Answers `requester`'s request for `blob` with the tracker's first choice and opens the
    /// transfer, or, when nothing can serve it yet, lets the follower ask again after
    /// `MeshDownload`'s wait (``SourceWaiting``).
    mutating func assign(_ requester: Int32, _ blob: Int32, attempt: Int = 0) {
        let position = slot(requester, blob)
        precondition(!requested[position] || attempt > 0, "one request per blob")
        requested[position] = true
        if Int(blob) >= nextUpstreamBlob {
            // The leader has not started this blob (its store has none of it: not a candidate)
            // and so nobody else has: an empty answer.
            let toLeader = latency(requester, Self.leader)
            let wait = SourceWaiting.delay(afterEmptyAnswers: attempt + 1, random: 1)
            emptyAnswers += 1
            queue.push(now + 2 * toLeader + Self.seconds(wait), .retry, requester, aux: UInt32(blob) | UInt32(min(attempt + 1, 8)) << 16)
            return
        }
        let chosen = choose(for: requester, blob: blob)
        guard let source = indexOfName[chosen.node] else { preconditionFailure("unknown source \(chosen.node)") }
        if chosen.activeUploads >= (chosen.kind == .leader ? selector.leaderSlots : selector.peerSlots) || chosen.totalUploads >= selector.uploadLimit {
            overCapAssignments += 1
        }
        if source == Self.leader { leaderAssignments += 1 }
        hops[position] = source == Self.leader ? 1 : hops[slot(source, blob)] + 1
        peakUploads[Int(source)] = max(peakUploads[Int(source)], Int32(tracker.uploads(of: chosen.node)))

        // The answer travels back; the follower announces `receiving` and waits for the leader's
        // reply to that POST (MeshFetcher awaits it), then its GET travels to the source.
        let toLeader = latency(requester, Self.leader)
        let answered = now + toLeader
        let flow = openFlow(from: source, to: requester, blob: blob, begin: answered + 2 * toLeader + latency(requester, source))
        if configuration.receivingKnown == .report {
            queue.push(answered + toLeader, .receivingKnown, flow)
        }
    }

    /// The tracker's first choice for `requester`, from the configured view.
    mutating func choose(for requester: Int32, blob: Int32) -> SourceCandidate {
        let leaderChunks = have[slot(Self.leader, blob)]
        let leader = TrackerState.Holding(complete: leaderChunks == chunkCounts[Int(blob)], size: blobSizes[Int(blob)])
        let name = names[Int(requester)]
        let view = configuration.trackerView
        var full: String?
        if view == .checked {
            var copy = tracker
            full = copy.choose(
                for: name, digest: digests[Int(blob)], size: blobSizes[Int(blob)], leader: leader, reachable: nil, now: now, view: .full
            ).first?.node
        }
        let before = tracker.candidatesRanked
        let ranked = tracker.choose(
            for: name, digest: digests[Int(blob)], size: blobSizes[Int(blob)], leader: leader, reachable: nil, now: now,
            view: view == .full ? .full : .pruned)
        candidatesRanked += tracker.candidatesRanked - before
        guard let first = ranked.first else { preconditionFailure("the leader is always a candidate") }
        if view == .checked, full != first.node { trackerMismatches += 1 }
        return first
    }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }
}
