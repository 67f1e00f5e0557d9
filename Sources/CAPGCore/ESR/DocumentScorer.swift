/// An early-stage ranker that scores a query's documents from their feature rows (LETOR,
/// or any universe whose items come with feature vectors): `s_d = f_θ(φ_d)`.
///
/// Parameters are one flat `Float` buffer (a gradient is one contiguous buffer for a single
/// fused allreduce). The caller owns every buffer so that a step allocates nothing:
/// `activations` must hold `activationCount(documents:)` floats; `forward` fills it and
/// `backward` reads it (and may overwrite it).
public protocol DocumentScorer: Sendable {
    /// Number of features F per document.
    var featureCount: Int { get }
    /// Length of the flat parameter buffer.
    var parameterCount: Int { get }
    /// Floats of per-document state kept between forward and backward for n documents.
    func activationCount(documents n: Int) -> Int
    /// Initial parameters from the `parameterInit` stream of `seed` (same on every rank).
    func initialParameters(seed: UInt64, initScale: Double) -> [Float]
    /// Scores of `n` documents; `features` is the `n × F` row-major block.
    func forward(parameters: UnsafeBufferPointer<Float>, features: UnsafeBufferPointer<Float>, documents n: Int,
                 scores: UnsafeMutableBufferPointer<Float>, activations: UnsafeMutableBufferPointer<Float>)
    /// Adds `∂J/∂θ = Σ_d (∂J/∂s_d) ∂s_d/∂θ` to `gradient` given `scoreGradient` = ∂J/∂s (n).
    func backward(parameters: UnsafeBufferPointer<Float>, features: UnsafeBufferPointer<Float>, documents n: Int,
                  scoreGradient: UnsafeBufferPointer<Float>, activations: UnsafeMutableBufferPointer<Float>,
                  gradient: UnsafeMutableBufferPointer<Float>)
}

extension DocumentScorer {
    /// Convenience: scores of `n` documents as a new array (allocates; for evaluation/tests).
    public func scores(parameters: [Float], features: UnsafeBufferPointer<Float>, documents n: Int) -> [Float] {
        var s = [Float](repeating: 0, count: n)
        var a = [Float](repeating: 0, count: activationCount(documents: n))
        parameters.withUnsafeBufferPointer { p in
            s.withUnsafeMutableBufferPointer { sb in
                a.withUnsafeMutableBufferPointer { ab in
                    forward(parameters: p, features: features, documents: n, scores: sb, activations: ab)
                }
            }
        }
        return s
    }
}
