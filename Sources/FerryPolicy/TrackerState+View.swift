import FerryCore

extension TrackerState {
    /// The candidates handed to the selector for `requester`, and the complete nodes at which
    /// kept chains of sources stop (so the selector counts the same hops as with every holder).
    ///
    /// Left out before anything is compared: the requester, nodes not reachable, nodes excluded
    /// for it (``excludedIDs(for:failed:now:)``), receivers when it resumes (`have` > 0: the
    /// tracker lists receivers at 0 bytes), and nodes that (through others) pull from it.
    /// Pruned: peer A *dominates* peer B when both are complete or both receiving, A has no more
    /// uploads (of the blob, and of all blobs), no more hops to the top, and comes first by name
    /// (members are scanned in name order). The selector never ranks a dominated peer above its
    /// dominator, so the first choice is never dropped; the simulator's `--tracker-view checked`
    /// compares every choice with the full list.
    mutating func candidates(
        for requester: Int32, in book: inout BlobBook, size: Int64, have: Int64, leader: Holding?, reachable: Set<String>?,
        excluded: Set<Int32>, view: View
    ) -> (candidates: [SourceCandidate], roots: Set<String>) {
        var candidates: [SourceCandidate] = []
        if let leader {
            candidates.append(
                SourceCandidate(
                    node: Self.leaderName, kind: .leader, complete: leader.complete, bytes: leader.complete ? size : 0,
                    activeUploads: Int(slotUploads(0, book)), totalUploads: Int(totalUploads[0])))
        }
        guard selector.peersEnabled, !book.members.isEmpty else { return (candidates, []) }
        scratch.stamp &+= 1
        let stamp = scratch.stamp
        if let reachable {
            for name in reachable { if let id = ids[name] { scratch.usable[Int(id)] = stamp } }
        }
        for id in excluded { scratch.blocked[Int(id)] = stamp }
        scratch.blocked[Int(requester)] = stamp
        scratch.front.removeAll(keepingCapacity: true)
        scratch.completeFront.removeAll(keepingCapacity: true)
        scratch.kept.removeAll(keepingCapacity: true)
        for node in book.members {
            let index = Int(node)
            if scratch.blocked[index] == stamp || (reachable != nil && scratch.usable[index] != stamp) { continue }
            let uploads = slotUploads(node, book)
            let total = totalUploads[index]
            if book.state[index] == .complete {
                if view == .pruned, scratch.completeFront.contains(where: { $0.uploads <= uploads && $0.total <= total }) { continue }
                scratch.completeFront.append((uploads, total))
                candidates.append(candidate(node, book, size: size))
                scratch.inView[index] = stamp
                continue
            }
            if have > 0 { continue }  // a receiver is listed at 0 bytes: it cannot serve a resume
            let depth = depth(of: node, in: book, stamp: stamp)
            if view == .pruned,
                scratch.front.contains(where: { $0.uploads <= uploads && $0.total <= total && $0.depth <= depth })
            {
                continue
            }
            // Checked only for those kept (the front holds only peers the selector may choose).
            if waits(node, on: requester, in: book, stamp: stamp) { continue }
            scratch.front.append((uploads, total, depth))
            scratch.kept.append(node)
            candidates.append(candidate(node, book, size: size))
            scratch.inView[index] = stamp
        }
        var roots: Set<String> = []
        for node in scratch.kept {
            let root = scratch.rootMemo[Int(node)]
            if root > 0, scratch.inView[Int(root)] != stamp { roots.insert(names[Int(root)]) }
        }
        return (candidates, roots)
    }

    /// What the selector is told about a peer: the size for a complete holder, 0 bytes for one
    /// still receiving (followers report progress per target, not per blob).
    func candidate(_ node: Int32, _ book: BlobBook, size: Int64) -> SourceCandidate {
        let complete = book.state[Int(node)] == .complete
        return SourceCandidate(
            node: names[Int(node)], kind: .peer, complete: complete, bytes: complete ? size : 0,
            activeUploads: Int(slotUploads(node, book)), totalUploads: Int(totalUploads[Int(node)]))
    }

    func slotUploads(_ node: Int32, _ book: BlobBook) -> Int32 {
        model.slotsPerBlob ? (Int(node) < book.uploads.count ? book.uploads[Int(node)] : 0) : totalUploads[Int(node)]
    }

    /// Hops from a receiving node up its chain of sources to the leader or a complete node (as
    /// the selector counts them), memoised for this request; records where the chain stops.
    mutating func depth(of node: Int32, in book: BlobBook, stamp: UInt32) -> Int32 {
        if scratch.depthStamp[Int(node)] == stamp { return scratch.depthMemo[Int(node)] }
        scratch.path.removeAll(keepingCapacity: true)
        var current = node
        var base: Int32 = 0
        var root: Int32 = -1
        while true {
            if scratch.depthStamp[Int(current)] == stamp {
                base = scratch.depthMemo[Int(current)]
                root = scratch.rootMemo[Int(current)]
                break
            }
            scratch.path.append(current)
            let source = book.source[Int(current)]
            if source < 0 { break }  // its feed was forgotten: the selector counts 1
            if source == 0 || book.state[Int(source)] == .complete {
                root = source
                break
            }
            if scratch.path.contains(source) { break }  // a cycle: counted as the selector does, roughly
            current = source
        }
        let count = Int32(scratch.path.count)
        for (offset, member) in scratch.path.enumerated() {
            scratch.depthStamp[Int(member)] = stamp
            scratch.depthMemo[Int(member)] = base + count - Int32(offset)
            scratch.rootMemo[Int(member)] = root
        }
        return scratch.depthMemo[Int(node)]
    }

    /// Whether `node` pulls the blob from `requester`, directly or through others, or sits on a
    /// cycle of sources (as ``SourceSelector`` judges it: such a peer is never chosen), memoised
    /// for this request.
    private mutating func waits(_ node: Int32, on requester: Int32, in book: BlobBook, stamp: UInt32) -> Bool {
        scratch.path.removeAll(keepingCapacity: true)
        var current = node
        var result = false
        while true {
            if scratch.waitStamp[Int(current)] == stamp {
                result = scratch.waitValue[Int(current)]
                break
            }
            scratch.path.append(current)
            scratch.waitStamp[Int(current)] = stamp  // on the path now: meeting it again is a cycle
            scratch.waitValue[Int(current)] = true
            let source = book.source[Int(current)]
            if source < 0 { break }
            if source == requester {
                result = true
                break
            }
            current = source
        }
        for member in scratch.path { scratch.waitValue[Int(member)] = result }
        return result
    }
}
