import FerryCore

/// Several ``SourceRequest``s in one request (``MeshAPI/sourceBatch``).
public struct SourceBatch: Codable, Sendable, Hashable {
    public var requests: [SourceRequest]

    public init(requests: [SourceRequest]) {
        self.requests = requests
    }
}

/// The leader's answers to a ``SourceBatch``, one per request, in the requests' order.
public struct SourceBatchAnswer: Codable, Sendable, Hashable {
    public var answers: [SourceAnswer]

    public init(answers: [SourceAnswer]) {
        self.answers = answers
    }
}

/// The answer to one request of a ``SourceBatch``: exactly one of its fields is set.
public struct SourceAnswer: Codable, Sendable, Hashable {
    /// The sources, as ``MeshAPI/sources`` answers them.
    public var list: SourceList?
    /// Why the request was refused, as ``MeshAPI/sources`` would answer it (an unknown blob, say).
    public var error: ErrorEntry?
    /// Nothing can serve the blob yet, but the leader is about to receive it: ask for it alone
    /// (``MeshAPI/sources`` answers as soon as the leader's first byte arrives).
    public var askAlone: Bool?

    public static func sources(_ list: SourceList) -> SourceAnswer { SourceAnswer(list: list) }
    public static func refused(_ error: FerryError) -> SourceAnswer { SourceAnswer(error: ErrorEntry(error)) }
    public static let later = SourceAnswer(askAlone: true)

    public init(list: SourceList? = nil, error: ErrorEntry? = nil, askAlone: Bool? = nil) {
        self.list = list
        self.error = error
        self.askAlone = askAlone
    }

    /// What the answer says, checked: one field set, else an error naming the version mismatch.
    public var outcome: Outcome {
        get throws(FerryError) {
            switch (list, error, askAlone) {
            case (let list?, nil, nil): return .sources(list)
            case (nil, let error?, nil): return .refused(error.ferryError)
            case (nil, nil, true?): return .askAlone
            default:
                throw FerryError(.upstreamError, "the leader sent a sources answer this ferry cannot read (version mismatch?)")
            }
        }
    }

    public enum Outcome: Sendable, Hashable {
        case sources(SourceList)
        case refused(FerryError)
        case askAlone
    }
}
