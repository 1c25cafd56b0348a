extension SimulationEngine {
    /// Opens a transfer whose `GET` reaches `source` at `begin`.
    mutating func openFlow(from source: Int32, to receiver: Int32, blob: Int32, begin: Double) -> Int32 {
        let index = Int32(flows.count)
        flows.append(Flow(source: source, receiver: receiver, blob: blob, latency: latency(source, receiver)))
        queue.push(begin, .begin, index)
        return index
    }

    /// The leader starts downloading its next blob from upstream.
    mutating func startUpstream() {
        let blob = Int32(nextUpstreamBlob)
        nextUpstreamBlob += 1
        _ = openFlow(from: Self.upstream, to: Self.leader, blob: blob, begin: now + configuration.upstreamLatency)
    }

    mutating func handleBegin(_ flow: Int32) {
        let current = flows[Int(flow)]
        if have[slot(current.source, current.blob)] > current.nextChunk {
            activate([flow])
        } else {
            flows[Int(flow)].status = .stalled
            waiting[slot(current.source, current.blob)].append(flow)
        }
    }

    mutating func handleSent(_ flow: Int32, version: UInt32) {
        let index = Int(flow)
        guard flows[index].status == .active, flows[index].version == version else { return }  // superseded
        let current = flows[index]
        bytesSent[Int(current.source)] += chunkBytes(current.blob, current.nextChunk)
        queue.push(now + current.latency, .arrive, flow, aux: UInt32(current.nextChunk))
        let next = current.nextChunk + 1
        flows[index].nextChunk = next
        if next == chunkCounts[Int(current.blob)] {
            flows[index].status = .done
            deactivate(flow)
        } else if have[slot(current.source, current.blob)] > next {
            flows[index].remaining = Double(chunkBytes(current.blob, next))
            flows[index].updated = now
            flows[index].version &+= 1
            queue.push(now + flows[index].remaining / current.rate, .sent, flow, aux: flows[index].version)
        } else {
            flows[index].status = .stalled
            deactivate(flow)
            waiting[slot(current.source, current.blob)].append(flow)
        }
    }

    mutating func handleArrive(_ flow: Int32, chunk: Int32) {
        let current = flows[Int(flow)]
        let position = slot(current.receiver, current.blob)
        precondition(have[position] == chunk, "chunks arrive in order")
        have[position] = chunk + 1
        if !waiting[position].isEmpty {
            let woken = waiting[position]
            waiting[position].removeAll(keepingCapacity: true)
            activate(woken)
        }
        guard chunk + 1 == chunkCounts[Int(current.blob)] else { return }
        if current.receiver == Self.leader {
            if nextUpstreamBlob < blobCount { startUpstream() }
            return
        }
        let receiver = Int(current.receiver)
        blobsDone[receiver] += 1
        if blobsDone[receiver] == blobCount { completion[receiver - Int(Self.firstFollower)] = now }
        queue.push(now + latency(current.receiver, Self.leader), .presentKnown, flow)
    }

    /// Starts sending the next chunk of each flow (their sources hold it).
    mutating func activate(_ list: [Int32]) {
        for flow in list {
            let index = Int(flow)
            let current = flows[index]
            flows[index].status = .active
            flows[index].remaining = Double(chunkBytes(current.blob, current.nextChunk))
            flows[index].rate = 0
            flows[index].updated = now
            flows[index].upPosition = Int32(activeUp[Int(current.source)].count)
            flows[index].downPosition = Int32(activeDown[Int(current.receiver)].count)
            activeUp[Int(current.source)].append(flow)
            activeDown[Int(current.receiver)].append(flow)
            markChanged(current)
        }
    }

    /// Stops a flow from sending (done or stalled): the others on its links get more.
    mutating func deactivate(_ flow: Int32) {
        let current = flows[Int(flow)]
        if let moved = Self.remove(at: current.upPosition, from: &activeUp[Int(current.source)]) {
            flows[Int(moved)].upPosition = current.upPosition
        }
        if let moved = Self.remove(at: current.downPosition, from: &activeDown[Int(current.receiver)]) {
            flows[Int(moved)].downPosition = current.downPosition
        }
        flows[Int(flow)].upPosition = -1
        flows[Int(flow)].downPosition = -1
        markChanged(current)
    }

    /// Removes the element at `position` by moving the last one there; returns the moved one.
    static func remove(at position: Int32, from list: inout [Int32]) -> Int32? {
        precondition(position >= 0 && Int(position) < list.count, "flow not active")
        let last = list.removeLast()
        guard Int(position) < list.count else { return nil }
        list[Int(position)] = last
        return last
    }

    private mutating func markChanged(_ flow: Flow) {
        if !senderDirty[Int(flow.source)] {
            senderDirty[Int(flow.source)] = true
            dirtySenders.append(flow.source)
        }
        if !receiverDirty[Int(flow.receiver)] {
            receiverDirty[Int(flow.receiver)] = true
            dirtyReceivers.append(flow.receiver)
        }
    }

    /// Gives every flow on a link whose set of senders changed this instant its new share. Runs
    /// once per instant, after all of its events (no time passes in between, so no flow moves
    /// at a stale rate).
    mutating func reshare() {
        for node in dirtySenders {
            senderDirty[Int(node)] = false
            retime(activeUp[Int(node)])
        }
        for node in dirtyReceivers {
            receiverDirty[Int(node)] = false
            retime(activeDown[Int(node)])
        }
        dirtySenders.removeAll(keepingCapacity: true)
        dirtyReceivers.removeAll(keepingCapacity: true)
    }

    /// Brings each flow's progress up to now and, where its fair share changed, reschedules the
    /// end of its chunk. A flow's rate is the smaller of its sender's uplink share and its
    /// receiver's downlink share among the flows sending right now.
    mutating func retime(_ list: [Int32]) {
        for flow in list {
            let index = Int(flow)
            let current = flows[index]
            var remaining = current.remaining
            if current.rate > 0 {
                remaining = max(remaining - current.rate * (now - current.updated), 0)
            }
            let rate = min(
                uplink[Int(current.source)] / Double(activeUp[Int(current.source)].count),
                downlink[Int(current.receiver)] / Double(activeDown[Int(current.receiver)].count))
            flows[index].remaining = remaining
            flows[index].updated = now
            if rate != current.rate {
                flows[index].rate = rate
                flows[index].version &+= 1
                queue.push(now + remaining / rate, .sent, flow, aux: flows[index].version)
            }
        }
    }
}
