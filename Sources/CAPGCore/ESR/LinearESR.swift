import CBLAS

/// Linear ESR over document features:
///
///   s_d = ⟨θ, φ_d⟩ + b,   flat parameters `[θ (F) | b]`.
///
/// Forward is one GEMV `s = Φ θ + b·1` (2·n·F flops); backward from `g = ∂J/∂s` is one GEMV
/// `∂θ += Φᵀ g` (2·n·F flops) and `∂b += Σ_d g_d`. (Under a PL policy `b` has zero gradient:
/// the softmax is shift-invariant; it is kept so the scores are a general affine model.)
public struct LinearESR: DocumentScorer, Hashable, Codable {
    public let featureCount: Int

    public init(featureCount: Int) {
        precondition(featureCount > 0)
        self.featureCount = featureCount
    }

    public var parameterCount: Int { featureCount + 1 }
    public var biasOffset: Int { featureCount }

    public func activationCount(documents n: Int) -> Int { 0 }

    /// `θ ~ N(0, initScale²/F)`, `b = 0`; `initScale = 0` gives the uniform (random) ESR.
    public func initialParameters(seed: UInt64, initScale: Double) -> [Float] {
        var p = [Float](repeating: 0, count: parameterCount)
        guard initScale != 0 else { return p }
        var stream = RandomStream(RandomKey(seed: seed, purpose: .parameterInit))
        let sd = initScale / Double(featureCount).squareRoot()
        for j in 0..<featureCount { p[j] = Float(stream.normal() * sd) }
        return p
    }

    public func forward(parameters: UnsafeBufferPointer<Float>, features: UnsafeBufferPointer<Float>, documents n: Int,
                        scores: UnsafeMutableBufferPointer<Float>, activations: UnsafeMutableBufferPointer<Float>) {
        let f = featureCount
        precondition(parameters.count == parameterCount && features.count >= n * f && scores.count >= n)
        guard n > 0 else { return }
        let b = parameters[biasOffset]
        for d in 0..<n { scores[d] = b }
        GEMM.sgemv(.none, m: n, n: f, a: features.baseAddress!, lda: f, x: parameters.baseAddress!, beta: 1,
                   y: scores.baseAddress!)
    }

    public func backward(parameters: UnsafeBufferPointer<Float>, features: UnsafeBufferPointer<Float>, documents n: Int,
                         scoreGradient: UnsafeBufferPointer<Float>, activations: UnsafeMutableBufferPointer<Float>,
                         gradient: UnsafeMutableBufferPointer<Float>) {
        let f = featureCount
        precondition(gradient.count == parameterCount && features.count >= n * f && scoreGradient.count >= n)
        guard n > 0 else { return }
        var gb: Float = 0
        for d in 0..<n { gb += scoreGradient[d] }
        gradient[biasOffset] += gb
        GEMM.sgemv(.transpose, m: n, n: f, a: features.baseAddress!, lda: f, x: scoreGradient.baseAddress!, beta: 1,
                   y: gradient.baseAddress!)
    }
}
