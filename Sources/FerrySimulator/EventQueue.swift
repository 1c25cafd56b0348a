/// One thing that happens at a simulated instant.
struct Event {
    enum Kind: UInt8 {
        /// A follower's source requests (one per blob) reach the tracker.
        case request
        /// A follower asks again for one blob (`aux`: the blob, and the attempt in the high 16 bits).
        case retry
        /// A transfer's `GET` reaches its source: it may start sending.
        case begin
        /// A transfer finished sending its current chunk (`aux`: the version it was timed for).
        case sent
        /// A chunk of a transfer reaches its receiver (`aux`: the chunk's index).
        case arrive
        /// The receiver's `receiving` report reaches the tracker.
        case receivingKnown
        /// The receiver's `present` report reaches the tracker.
        case presentKnown
    }

    var time: Double
    var sequence: UInt64
    var kind: Kind
    /// A follower (``Kind/request``, ``Kind/retry``) or a transfer (every other kind).
    var subject: Int32
    var aux: UInt32

    func precedes(_ other: Event) -> Bool {
        time < other.time || (time == other.time && sequence < other.sequence)
    }
}

/// A binary min-heap of events by time; events at the same time come out in the order they were
/// pushed, so runs are deterministic.
struct EventQueue {
    private var heap: [Event] = []
    private var sequence: UInt64 = 0

    init(capacity: Int) {
        heap.reserveCapacity(capacity)
    }

    /// Time of the next event, if any.
    var nextTime: Double? { heap.first?.time }

    mutating func push(_ time: Double, _ kind: Event.Kind, _ subject: Int32, aux: UInt32 = 0) {
        heap.append(Event(time: time, sequence: sequence, kind: kind, subject: subject, aux: aux))
        sequence &+= 1
        var child = heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard heap[child].precedes(heap[parent]) else { break }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    mutating func pop() -> Event? {
        guard let first = heap.first else { return nil }
        let last = heap.removeLast()
        if !heap.isEmpty {
            heap[0] = last
            var parent = 0
            let count = heap.count
            while true {
                let left = 2 * parent + 1
                guard left < count else { break }
                var smallest = left
                let right = left + 1
                if right < count, heap[right].precedes(heap[left]) { smallest = right }
                guard heap[smallest].precedes(heap[parent]) else { break }
                heap.swapAt(smallest, parent)
                parent = smallest
            }
        }
        return first
    }
}
