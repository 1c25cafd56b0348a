import FerryCore

extension SimulationEngine {
    /// A follower's requests reach the tracker: one source per blob, in blob order, each chosen
    /// by ``SourceSelector`` from the tracker's view at this instant.
    mutating func handleRequest(_ requester: Int32) {
        for blob in 0..<Int32(blobCount) {
            assign(requester, blob)
        }
    }

    /// A follower's request for one blob, again: the last answer had no source.
    mutating func handleRetry(_ requester: Int32, aux: UInt32) {
        assign(requester, Int32(aux & 0xFFFF), attempt: Int(aux >> 16))
    }

    mutating func handleReceivingKnown(_ flow: Int32) {
        let current = flows[Int(flow)]
        let position = slot(current.receiver, current.blob)
        if known[position] == .none { known[position] = .receiving }
    }

    /// The receiver's `present` report: it is a complete source from now on, and its transfer no
    /// longer counts against its source's slots.
    mutating func handlePresentKnown(_ flow: Int32) {
        let current = flows[Int(flow)]
        known[slot(current.receiver, current.blob)] = .complete
        uploadsByNode[Int(current.source)] -= 1
        uploadsByBlob[slot(current.source, current.blob)] -= 1
        feeds[Int(current.blob)][names[Int(current.receiver)]] = nil
    }

    /// Answers `requester`'s request for `blob`: assigns a source and opens the transfer, or,
    /// when nothing can serve it yet, lets the follower ask again after MeshFetcher's backoff.
    mutating func assign(_ requester: Int32, _ blob: Int32, attempt: Int = 0) {
        precondition(known[slot(requester, blob)] == .none && assignedSource[slot(requester, blob)] < 0, "one request per blob")
        if Int(blob) >= nextUpstreamBlob {
            // The leader has not started this blob (its store has none of it: not a candidate)
            // and so nobody else has: an empty answer. MeshFetcher sleeps 0.2 s, doubling up to
            // 2 s, and asks again.
            let toLeader = latency(requester, Self.leader)
            let wait = min(0.2 * Double(1 << min(attempt, 8)), 2)
            emptyAnswers += 1
            queue.push(now + 2 * toLeader + wait, .retry, requester, aux: UInt32(blob) | UInt32(min(attempt + 1, 8)) << 16)
            return
        }
        let chosen = choose(for: requester, blob: blob)
        guard let source = indexOfName[chosen.node] else { preconditionFailure("unknown source \(chosen.node)") }
        if chosen.activeUploads >= (chosen.kind == .leader ? selector.leaderSlots : selector.peerSlots) || chosen.totalUploads >= selector.uploadLimit {
            overCapAssignments += 1
        }
        if source == Self.leader { leaderAssignments += 1 }

        let position = slot(requester, blob)
        assignedSource[position] = source
        hops[position] = source == Self.leader ? 1 : hops[slot(source, blob)] + 1
        feeds[Int(blob)][names[Int(requester)]] = chosen.node
        uploadsByNode[Int(source)] += 1
        uploadsByBlob[slot(source, blob)] += 1
        peakUploads[Int(source)] = max(peakUploads[Int(source)], uploadsByNode[Int(source)])
        if configuration.receivingKnown == .assignment { known[position] = .receiving }

        // The answer travels back; the follower announces `receiving` and waits for the leader's
        // reply to that POST (MeshFetcher awaits it), then its GET travels to the source.
        let toLeader = latency(requester, Self.leader)
        let answered = now + toLeader
        let flow = openFlow(from: source, to: requester, blob: blob, begin: answered + 2 * toLeader + latency(requester, source))
        if configuration.receivingKnown == .report {
            queue.push(answered + toLeader, .receivingKnown, flow)
        }
    }

    /// The selector's first choice for `requester`, from the configured view.
    mutating func choose(for requester: Int32, blob: Int32) -> SourceCandidate {
        let view = configuration.trackerView
        let candidates = view == .full ? fullView(blob) : prunedView(blob)
        candidatesRanked += candidates.count
        let feeds = feeds[Int(blob)]
        let name = names[Int(requester)]
        guard let first = selector.rank(requester: name, have: 0, candidates: candidates, feeds: feeds).first else {
            preconditionFailure("the leader is always a candidate")
        }
        if view == .checked {
            let full = selector.rank(requester: name, have: 0, candidates: fullView(blob), feeds: feeds).first
            if full?.node != first.node { trackerMismatches += 1 }
        }
        return first
    }

    /// What the tracker tells the selector about `node` for `blob`: as `Tracker.choose` does, the
    /// size for a complete holder and 0 bytes for one still receiving (followers report progress
    /// per target, not per blob, so the tracker does not know more).
    func candidate(_ node: Int32, _ blob: Int32) -> SourceCandidate {
        let position = slot(node, blob)
        let isLeader = node == Self.leader
        let complete = isLeader ? have[position] == chunkCounts[Int(blob)] : known[position] == .complete
        return SourceCandidate(
            node: names[Int(node)], kind: isLeader ? .leader : .peer, complete: complete,
            bytes: complete ? blobSizes[Int(blob)] : 0, activeUploads: Int(uploads(node, blob)), totalUploads: Int(uploadsByNode[Int(node)]))
    }

    func uploads(_ node: Int32, _ blob: Int32) -> Int32 {
        configuration.slotScope == .node ? uploadsByNode[Int(node)] : uploadsByBlob[slot(node, blob)]
    }

    /// The leader and every follower the tracker knows holds or receives `blob`.
    func fullView(_ blob: Int32) -> [SourceCandidate] {
        var candidates = [candidate(Self.leader, blob)]
        for node in Self.firstFollower..<Int32(names.count) where known[slot(node, blob)] != .none {
            candidates.append(candidate(node, blob))
        }
        return candidates
    }

    /// The full view without the candidates another one beats on every count.
    ///
    /// Peer A *dominates* peer B when both are complete or both receiving, and A has no more
    /// uploads (of the blob, and of all blobs: the selector's `uploadLimit`), no more hops to the
    /// top, at least as many bytes, and a smaller name. The
    /// selector's order never ranks a dominated peer above its dominator (fewer uploads, fewer
    /// hops and more bytes are never worse; ties go by name), so the first choice is never
    /// dropped; `TrackerView.checked` verifies this against the full view on every request. The
    /// complete peers at which kept chains stop are kept too, so the selector counts the same hops.
    mutating func prunedView(_ blob: Int32) -> [SourceCandidate] {
        var candidates = [candidate(Self.leader, blob)]
        guard configuration.peersEnabled else { return candidates }
        viewStamp &+= 1
        front.removeAll(keepingCapacity: true)
        completeFront.removeAll(keepingCapacity: true)
        var kept: [Int32] = []
        var lastDominator = 0
        for node in Self.firstFollower..<Int32(names.count) {
            let state = known[slot(node, blob)]
            if state == .none { continue }
            let uploads = uploads(node, blob)
            let total = uploadsByNode[Int(node)]
            if state == .complete {
                if !completeFront.contains(where: { $0.uploads <= uploads && $0.total <= total }) {
                    completeFront.append((uploads, total))
                    candidates.append(candidate(node, blob))
                    inViewStamp[Int(node)] = viewStamp
                }
                continue
            }
            let bytes: Int64 = 0  // what `candidate` reports for a receiving peer
            let depth = depth(of: node, blob)
            if dominated(uploads, total, depth, bytes, hint: &lastDominator) { continue }
            front.append((uploads, total, depth, bytes))
            kept.append(node)
            candidates.append(candidate(node, blob))
            inViewStamp[Int(node)] = viewStamp
        }
        for node in kept {
            let root = rootMemo[Int(node)]
            if root != Self.leader, inViewStamp[Int(root)] != viewStamp {
                inViewStamp[Int(root)] = viewStamp
                candidates.append(candidate(root, blob))
            }
        }
        return candidates
    }

    private func dominated(_ uploads: Int32, _ total: Int32, _ depth: Int32, _ bytes: Int64, hint: inout Int) -> Bool {
        func beats(_ entry: (uploads: Int32, total: Int32, depth: Int32, bytes: Int64)) -> Bool {
            entry.uploads <= uploads && entry.total <= total && entry.depth <= depth && entry.bytes >= bytes
        }
        if hint < front.count, beats(front[hint]) { return true }
        for index in front.indices where beats(front[index]) {
            hint = index
            return true
        }
        return false
    }

    /// Hops from a receiving `node` up its chain of sources to the leader or to a node the tracker
    /// knows is complete (as the selector counts them), memoised for the current view; records
    /// where the chain stops in `rootMemo`.
    mutating func depth(of node: Int32, _ blob: Int32) -> Int32 {
        if depthStamp[Int(node)] == viewStamp { return depthMemo[Int(node)] }
        pathScratch.removeAll(keepingCapacity: true)
        var current = node
        var base: Int32 = 0
        var root = Self.leader
        while true {
            if depthStamp[Int(current)] == viewStamp {
                base = depthMemo[Int(current)]
                root = rootMemo[Int(current)]
                break
            }
            pathScratch.append(current)
            let source = assignedSource[slot(current, blob)]
            precondition(source >= Self.leader, "a receiving node has a source")
            if source == Self.leader || known[slot(source, blob)] == .complete {
                root = source
                break
            }
            current = source
        }
        let count = Int32(pathScratch.count)
        for (offset, member) in pathScratch.enumerated() {
            depthStamp[Int(member)] = viewStamp
            depthMemo[Int(member)] = base + count - Int32(offset)
            rootMemo[Int(member)] = root
        }
        return depthMemo[Int(node)]
    }
}
