/// The queries of a learning-to-rank (LETOR/SVMlight) file that one rank owns, in
/// contiguous buffers:
///
/// - `features`: every kept document's dense feature row, row-major, `documentCount × F`
///   (missing sparse features are 0); query `q`'s rows are `documentOffsets[q] ..<
///   documentOffsets[q+1]`, so its feature matrix is one contiguous `n_q × F` block that a
///   GEMV/GEMM can read in place;
/// - `labels`: the graded relevance of each document (non-negative reals, usually the
///   integers 0…4; see `LabelGain`);
/// - `qids`, `queryOrdinals`: the query id as written in the file, and the query's 0-based
///   position among all queries of the file (the same on every rank; it keys the query's
///   random streams and decides its owner rank `ordinal % size`).
///
/// Memory: `4·(D·F + D) + O(Q)` bytes for D documents and Q queries. Pure data: reading
/// files is done by `CAPGData.LetorReader`.
public struct LetorDataset: Sendable, Equatable {
    /// Number of features F (the declared maximum feature id; ids are 1-based in the file,
    /// column `id − 1` here).
    public let featureCount: Int
    public let qids: [String]
    public let queryOrdinals: [Int]
    /// `queryCount + 1` offsets into the document arrays; `documentOffsets[0] == 0`.
    public let documentOffsets: [Int]
    public let labels: [Float]
    public internal(set) var features: [Float]

    /// Builds a dataset from its buffers; checks that they fit together (O(Q)).
    public init(featureCount: Int, qids: [String], queryOrdinals: [Int], documentOffsets: [Int],
                labels: [Float], features: [Float]) {
        precondition(featureCount > 0, "featureCount must be positive")
        precondition(qids.count == queryOrdinals.count && documentOffsets.count == qids.count + 1,
                     "qids, ordinals and offsets disagree on the number of queries")
        precondition(documentOffsets.first == 0 && documentOffsets.last == labels.count,
                     "document offsets must start at 0 and end at the number of labels")
        precondition(features.count == labels.count * featureCount, "features must be documents × F")
        for q in 0..<qids.count {
            precondition(documentOffsets[q + 1] > documentOffsets[q], "query \(qids[q]) has no documents")
        }
        self.featureCount = featureCount
        self.qids = qids
        self.queryOrdinals = queryOrdinals
        self.documentOffsets = documentOffsets
        self.labels = labels
        self.features = features
    }

    public var queryCount: Int { qids.count }
    public var documentCount: Int { labels.count }

    /// Document index range of query `q` (indices into `labels`, rows of `features`).
    @inlinable
    public func documents(of q: Int) -> Range<Int> { documentOffsets[q] ..< documentOffsets[q + 1] }

    /// Number of documents `n_q` of query `q`.
    @inlinable
    public func documentCount(of q: Int) -> Int { documentOffsets[q + 1] - documentOffsets[q] }

    /// Labels of query `q` (a slice of the shared buffer; no copy).
    public func labels(of q: Int) -> ArraySlice<Float> { labels[documents(of: q)] }

    /// Calls `body` with query `q`'s `n_q × F` row-major feature block (no copy).
    @inlinable
    public func withFeatures<R>(of q: Int, _ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
        let r = documents(of: q)
        return try features.withUnsafeBufferPointer { all in
            try body(UnsafeBufferPointer(rebasing: all[r.lowerBound * featureCount ..< r.upperBound * featureCount]))
        }
    }

    /// Largest label in this dataset (0 if empty).
    public var maxLabel: Float { labels.max() ?? 0 }

    /// Applies `standardizer` to every feature row in place (O(D·F)).
    public mutating func standardize(with standardizer: FeatureStandardizer) {
        precondition(standardizer.featureCount == featureCount, "standardizer has \(standardizer.featureCount) features, dataset \(featureCount)")
        standardizer.apply(to: &features, rows: documentCount)
    }
}
