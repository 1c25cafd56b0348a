import CoreMetrics

extension FerryMetrics {
    /// `ferry_mesh_sources_requests_total{route="single"|"batch"}`: sources requests the leader answered, by route.
    private static let singleSourceRequests = Counter(label: "ferry_mesh_sources_requests_total", dimensions: [("route", "single")])
    private static let batchSourceRequests = Counter(label: "ferry_mesh_sources_requests_total", dimensions: [("route", "batch")])
    /// `ferry_mesh_sources_questions_total`: blobs asked about, in either route.
    private static let sourceQuestions = Counter(label: "ferry_mesh_sources_questions_total")

    /// Counts one sources request asking about `questions` blobs.
    public static func countSourcesRequest(batch: Bool, questions: Int) {
        (batch ? batchSourceRequests : singleSourceRequests).increment()
        sourceQuestions.increment(by: questions)
    }

    static func registerSourceCounters() {
        singleSourceRequests.increment(by: 0)
        batchSourceRequests.increment(by: 0)
        sourceQuestions.increment(by: 0)
    }
}
