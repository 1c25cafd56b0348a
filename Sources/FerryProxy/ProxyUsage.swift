import FerryFormats
/// Pulls and bytes per licence and repository, summed from the audit.
public struct ProxyUsage: Sendable {
    public struct Row: Sendable, Hashable, Codable {
        public var licence: Int64
        public var repository: String
        public var manifests: Int
        public var blobs: Int
        public var bytes: Int64
        /// Requests the licence was not allowed: `401` (outside a token's scope), `403` (revoked,
        /// expired, outside the allowance).
        public var refused: Int
        /// Other requests that did not pull: not found, a bad range, rate limited, upstream down.
        public var failed: Int

        public var line: String {
            "licence=\(licence)\t\(repository)\tmanifests=\(manifests)\tblobs=\(blobs)\tbytes=\(bytes)\trefused=\(refused)\tfailed=\(failed)"
        }
    }

    public var rows: [Row]

    public init(_ pulls: [PullRecord]) {
        var rows: [String: Row] = [:]
        for pull in pulls {
            let key = "\(pull.licence) \(pull.repository)"
            var row = rows[key] ?? Row(licence: pull.licence, repository: pull.repository, manifests: 0, blobs: 0, bytes: 0, refused: 0, failed: 0)
            switch pull.status {
            case 200..<300:
                if pull.kind == "manifest" { row.manifests += 1 } else { row.blobs += 1 }
            case 401, 403:
                row.refused += 1
            default:
                row.failed += 1
            }
            row.bytes += pull.bytes
            rows[key] = row
        }
        self.rows = rows.values.sorted { ($0.licence, $0.repository) < ($1.licence, $1.repository) }
    }
}
