/// What the tracker knows of one blob: per node id, its holding, its assigned source and the
/// transfers of the blob it serves, in flat arrays (the simulator scans 10,000 of them per
/// request); the holders sorted by name (the order of the selector's last tie-break).
struct BlobBook: Sendable {
    enum State: UInt8, Sendable {
        case none
        case receiving
        case complete
    }

    var state: [State] = []
    /// The source each receiver was last given (node id), or -1.
    var source: [Int32] = []
    /// Transfers of this blob each node serves now, as assigned.
    var uploads: [Int32] = []
    /// Nodes holding or receiving the blob, sorted by name.
    var members: [Int32] = []
    /// Receiver name → source name, for the selector (chains and cycles).
    var feeds: [String: String] = [:]
    /// Per receiver: every source handed to it for this blob (the only ones it may accuse, and
    /// what makes its claims about the blob count).
    var handed: [Int32: Set<Int32>] = [:]
    /// Per receiver: when it was last handed sources (``EvidenceRules/handedLifetime``).
    var handedAt: [Int32: Double] = [:]

    var isEmpty: Bool { members.isEmpty && feeds.isEmpty && handed.isEmpty }

    mutating func grow(to count: Int) {
        guard state.count < count else { return }
        let extra = count - state.count
        state.append(contentsOf: repeatElement(.none, count: extra))
        source.append(contentsOf: repeatElement(-1, count: extra))
        uploads.append(contentsOf: repeatElement(0, count: extra))
    }

    /// Sets a node's holding, keeping ``members`` sorted by name.
    mutating func setState(_ node: Int32, _ new: State, names: [String]) {
        let old = state[Int(node)]
        guard old != new else { return }
        state[Int(node)] = new
        if old == .none {
            members.insert(node, at: position(of: names[Int(node)], names: names))
        } else if new == .none {
            let at = position(of: names[Int(node)], names: names)
            if at < members.count, members[at] == node { members.remove(at: at) }
        }
    }

    /// Where `name` is or would go in ``members``.
    private func position(of name: String, names: [String]) -> Int {
        var low = 0
        var high = members.count
        while low < high {
            let middle = (low + high) / 2
            if names[Int(members[middle])] < name { low = middle + 1 } else { high = middle }
        }
        return low
    }
}

/// Reusable scratch space of the pruned view, indexed by node id.
struct Scratch: Sendable {
    var stamp: UInt32 = 0
    var depthStamp: [UInt32] = [0]
    var depthMemo: [Int32] = [0]
    var rootMemo: [Int32] = [0]
    var inView: [UInt32] = [0]
    var usable: [UInt32] = [0]
    var blocked: [UInt32] = [0]
    var waitStamp: [UInt32] = [0]
    var waitValue: [Bool] = [false]
    var path: [Int32] = []
    var kept: [Int32] = []
    var front: [(uploads: Int32, total: Int32, depth: Int32)] = []
    var completeFront: [(uploads: Int32, total: Int32)] = []

    mutating func grow(to count: Int) {
        guard depthStamp.count < count else { return }
        let extra = count - depthStamp.count
        depthStamp.append(contentsOf: repeatElement(0, count: extra))
        depthMemo.append(contentsOf: repeatElement(0, count: extra))
        rootMemo.append(contentsOf: repeatElement(0, count: extra))
        inView.append(contentsOf: repeatElement(0, count: extra))
        usable.append(contentsOf: repeatElement(0, count: extra))
        blocked.append(contentsOf: repeatElement(0, count: extra))
        waitStamp.append(contentsOf: repeatElement(0, count: extra))
        waitValue.append(contentsOf: repeatElement(false, count: extra))
    }
}
