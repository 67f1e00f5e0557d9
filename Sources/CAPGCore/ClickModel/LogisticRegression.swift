import CBLAS
import Foundation

/// L2-regularized logistic regression on a dense design matrix:
///
///   minimize  L(w) = −(1/n) Σ_i [y_i log σ(z_i) + (1 − y_i) log(1 − σ(z_i))] + (λ/2) Σ_{j≠0} w_j²,
///   z = X w,
///
/// where column 0 of X is the intercept (all ones, not penalized). Fitted by L-BFGS; each
/// evaluation is two GEMVs over the n×p Float matrix (4·n·p flops) plus O(n + p).
/// The log-loss uses `log σ(z) = −softplus(−z)` computed stably in Double.
public struct LogisticRegression: Sendable, Equatable {
    public var weights: [Double]

    public init(weights: [Double]) { self.weights = weights }

    public var featureCount: Int { weights.count }

    /// `σ(⟨w, x⟩)` of one feature row.
    public func probability(_ x: UnsafeBufferPointer<Float>) -> Double {
        precondition(x.count >= weights.count)
        var z = 0.0
        for j in 0..<weights.count { z += weights[j] * Double(x[j]) }
        return Self.sigmoid(z)
    }

    @inlinable public static func sigmoid(_ z: Double) -> Double {
        z >= 0 ? 1 / (1 + Foundation.exp(-z)) : Foundation.exp(z) / (1 + Foundation.exp(z))
    }

    /// `log(1 + eᶻ)` without overflow.
    @inlinable public static func softplus(_ z: Double) -> Double {
        z > 0 ? z + Foundation.log1p(Foundation.exp(-z)) : Foundation.log1p(Foundation.exp(z))
    }

    /// Mean log-likelihood `(1/n) Σ [y log p + (1−y) log(1−p)]` of rows `x` (n×p) with
    /// labels `y ∈ {0,1}` (higher is better; ≤ 0).
    public func meanLogLikelihood(design x: [Float], labels y: [Float], rows n: Int) -> Double {
        let z = Self.margins(design: x, rows: n, columns: featureCount, weights: weights)
        var total = 0.0
        for i in 0..<n { let zi = Double(z[i]); total -= y[i] > 0.5 ? Self.softplus(-zi) : Self.softplus(zi) }
        return total / Double(max(1, n))
    }

    static func margins(design x: [Float], rows n: Int, columns p: Int, weights w: [Double]) -> [Float] {
        var z = [Float](repeating: 0, count: n)
        let wf = w.map(Float.init)
        x.withUnsafeBufferPointer { xb in
            wf.withUnsafeBufferPointer { wb in
                z.withUnsafeMutableBufferPointer { zb in
                    GEMM.sgemv(.none, m: n, n: p, a: xb.baseAddress!, lda: p, x: wb.baseAddress!, beta: 0, y: zb.baseAddress!)
                }
            }
        }
        return z
    }

    /// Fits by L-BFGS from the constant-rate solution (intercept = logit of the mean label).
    /// `x` is n×p row-major with column 0 all ones; `l2` is λ (per-row scale, see above).
    public static func fit(design x: [Float], labels y: [Float], rows n: Int, columns p: Int,
                           l2: Double, optimizer: LBFGS = LBFGS()) -> (model: LogisticRegression, result: LBFGS.Result) {
        precondition(x.count == n * p && y.count == n && n > 0 && p > 0)
        let rate = min(max(Double(y.reduce(0, +)) / Double(n), 1e-9), 1 - 1e-9)
        var w0 = [Double](repeating: 0, count: p)
        w0[0] = Foundation.log(rate / (1 - rate))
        var residual = [Float](repeating: 0, count: n)
        var gradient = [Float](repeating: 0, count: p)
        let result = optimizer.minimize(from: w0) { w in
            let z = margins(design: x, rows: n, columns: p, weights: w)
            var loss = 0.0
            for i in 0..<n {
                let zi = Double(z[i])
                loss += y[i] > 0.5 ? softplus(-zi) : softplus(zi)
                residual[i] = Float(sigmoid(zi) - Double(y[i]))
            }
            loss /= Double(n)
            x.withUnsafeBufferPointer { xb in
                residual.withUnsafeBufferPointer { rb in
                    gradient.withUnsafeMutableBufferPointer { gb in
                        GEMM.sgemv(.transpose, m: n, n: p, alpha: 1 / Float(n), a: xb.baseAddress!, lda: p, x: rb.baseAddress!,
                                   beta: 0, y: gb.baseAddress!)
                    }
                }
            }
            var g = gradient.map(Double.init)
            for j in 1..<p { loss += 0.5 * l2 * w[j] * w[j]; g[j] += l2 * w[j] }
            return (loss, g)
        }
        return (LogisticRegression(weights: result.x), result)
    }

    /// Mean log-likelihood of the constant-rate model `p = rate` on labels `y`.
    public static func constantRateLogLikelihood(rate: Double, labels y: [Float]) -> Double {
        let r = min(max(rate, 1e-12), 1 - 1e-12)
        var t = 0.0
        for v in y { t += v > 0.5 ? Foundation.log(r) : Foundation.log(1 - r) }
        return t / Double(max(1, y.count))
    }
}
