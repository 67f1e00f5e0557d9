import CBLAS

/// One-hidden-layer MLP ESR over document features:
///
///   z_d = W φ_d + c,   a_d = max(0, z_d),   s_d = ⟨v, a_d⟩ + b,
///
/// `W ∈ R^{H×F}`, flat parameters `[W (H·F) | c (H) | v (H) | b]`. For n documents:
/// forward is one GEMM `Z = Φ Wᵀ` (n×F·F×H) and one GEMV; backward from `g = ∂J/∂s`:
/// `∂v += Aᵀ g`, `∂b += Σ g`, `∂Z = (g vᵀ) ⊙ 1[Z > 0]`, `∂c += Σ_rows ∂Z`,
/// `∂W += ∂Zᵀ Φ` (GEMM H×n·n×F). Cost ≈ 4·n·F·H flops per forward+backward.
/// `activations` (n·H floats) holds A after forward; backward overwrites it with ∂Z.
public struct MLPESR: DocumentScorer, Hashable, Codable {
    public let featureCount: Int
    public let hidden: Int

    public init(featureCount: Int, hidden: Int) {
        precondition(featureCount > 0 && hidden > 0)
        self.featureCount = featureCount; self.hidden = hidden
    }

    public var wOffset: Int { 0 }
    public var cOffset: Int { hidden * featureCount }
    public var vOffset: Int { cOffset + hidden }
    public var bOffset: Int { vOffset + hidden }
    public var parameterCount: Int { bOffset + 1 }

    public func activationCount(documents n: Int) -> Int { n * hidden }

    /// He initialization `W ~ N(0, 2/F)`, `c = 0`, `v ~ N(0, initScale²/H)`, `b = 0`: the
    /// hidden layer starts informative, the output starts near the uniform policy.
    public func initialParameters(seed: UInt64, initScale: Double) -> [Float] {
        var p = [Float](repeating: 0, count: parameterCount)
        var stream = RandomStream(RandomKey(seed: seed, purpose: .parameterInit))
        let sw = (2 / Double(featureCount)).squareRoot()
        for i in 0..<(hidden * featureCount) { p[wOffset + i] = Float(stream.normal() * sw) }
        let sv = initScale / Double(hidden).squareRoot()
        for i in 0..<hidden { p[vOffset + i] = Float(stream.normal() * sv) }
        return p
    }

    public func forward(parameters: UnsafeBufferPointer<Float>, features: UnsafeBufferPointer<Float>, documents n: Int,
                        scores: UnsafeMutableBufferPointer<Float>, activations: UnsafeMutableBufferPointer<Float>) {
        let f = featureCount, h = hidden
        precondition(parameters.count == parameterCount && features.count >= n * f && scores.count >= n
                     && activations.count >= n * h)
        guard n > 0 else { return }
        let p = parameters.baseAddress!, a = activations.baseAddress!
        GEMM.sgemm(.none, .transpose, m: n, n: h, k: f, a: features.baseAddress!, lda: f,
                   b: p + wOffset, ldb: f, c: a, ldc: h)
        for d in 0..<n {
            let row = a + d * h
            for j in 0..<h { row[j] = max(0, row[j] + p[cOffset + j]) }
        }
        let b = p[bOffset]
        for d in 0..<n { scores[d] = b }
        GEMM.sgemv(.none, m: n, n: h, a: a, lda: h, x: p + vOffset, beta: 1, y: scores.baseAddress!)
    }

    public func backward(parameters: UnsafeBufferPointer<Float>, features: UnsafeBufferPointer<Float>, documents n: Int,
                         scoreGradient: UnsafeBufferPointer<Float>, activations: UnsafeMutableBufferPointer<Float>,
                         gradient: UnsafeMutableBufferPointer<Float>) {
        let f = featureCount, h = hidden
        precondition(gradient.count == parameterCount && features.count >= n * f && scoreGradient.count >= n
                     && activations.count >= n * h)
        guard n > 0 else { return }
        let p = parameters.baseAddress!, a = activations.baseAddress!, g = gradient.baseAddress!
        let gs = scoreGradient.baseAddress!
        var gb: Float = 0
        for d in 0..<n { gb += gs[d] }
        g[bOffset] += gb
        // ∂v += Aᵀ g (uses A before it is overwritten).
        GEMM.sgemv(.transpose, m: n, n: h, a: a, lda: h, x: gs, beta: 1, y: g + vOffset)
        // ∂Z = g_d v ⊙ 1[a > 0] in place (a > 0 ⇔ z > 0 for ReLU), and ∂c += column sums.
        for d in 0..<n {
            let row = a + d * h
            let gd = gs[d]
            for j in 0..<h {
                let dz: Float = row[j] > 0 ? gd * p[vOffset + j] : 0
                row[j] = dz
                g[cOffset + j] += dz
            }
        }
        // ∂W += ∂Zᵀ Φ  (H×F)
        GEMM.sgemm(.transpose, .none, m: h, n: f, k: n, a: a, lda: h, b: features.baseAddress!, ldb: f,
                   beta: 1, c: g + wOffset, ldc: f)
    }
}
