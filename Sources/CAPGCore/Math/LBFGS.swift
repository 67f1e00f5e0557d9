import Foundation

/// Limited-memory BFGS (Nocedal & Wright, Alg. 7.4/7.5) for smooth minimization of
/// `f: R^p → R`, with a backtracking Armijo line search (`f(x + αd) ≤ f(x) + 10⁻⁴ α ∇fᵀd`).
///
/// Pairs with `sᵀy ≤ 10⁻¹⁰·|s||y|` are skipped, so the two-loop recursion always yields a
/// descent direction; for the strictly convex objectives used here (L2-regularized
/// logistic loss) that never happens in practice. Memory `2·m·p` doubles; each iteration
/// costs one or a few evaluations of f plus O(m·p).
public struct LBFGS: Sendable {
    public var memory = 10
    public var maxIterations = 500
    /// Stop when `‖∇f‖_∞ ≤ gradientTolerance · max(1, |f|)`.
    public var gradientTolerance = 1e-7
    /// …or when an iteration improves f by less than `relativeTolerance · max(1, |f|)`.
    public var relativeTolerance = 1e-12

    public init(memory: Int = 10, maxIterations: Int = 500, gradientTolerance: Double = 1e-7) {
        self.memory = memory; self.maxIterations = maxIterations; self.gradientTolerance = gradientTolerance
    }

    public struct Result: Sendable {
        public var x: [Double]
        public var value: Double
        public var gradientNorm: Double
        public var iterations: Int
        public var converged: Bool
    }

    /// Minimizes `f` from `x0`; `f` returns the value and the gradient.
    public func minimize(from x0: [Double], _ f: ([Double]) -> (value: Double, gradient: [Double])) -> Result {
        let p = x0.count
        var x = x0
        var (fx, g) = f(x)
        var sList: [[Double]] = [], yList: [[Double]] = [], rhoList: [Double] = []
        func infNorm(_ v: [Double]) -> Double { v.reduce(0) { max($0, abs($1)) } }
        func dot(_ a: [Double], _ b: [Double]) -> Double {
            var t = 0.0
            for i in 0..<a.count { t += a[i] * b[i] }
            return t
        }
        var iteration = 0
        while iteration < maxIterations {
            if infNorm(g) <= gradientTolerance * max(1, abs(fx)) {
                return Result(x: x, value: fx, gradientNorm: infNorm(g), iterations: iteration, converged: true)
            }
            iteration += 1
            // Two-loop recursion: d = −H g.
            var q = g
            var alphas = [Double](repeating: 0, count: sList.count)
            for i in stride(from: sList.count - 1, through: 0, by: -1) {
                alphas[i] = rhoList[i] * dot(sList[i], q)
                for j in 0..<p { q[j] -= alphas[i] * yList[i][j] }
            }
            if let s = sList.last, let y = yList.last {
                let gamma = dot(s, y) / dot(y, y)
                for j in 0..<p { q[j] *= gamma }
            } else {
                // First step: scale so that the trial step has unit length.
                let scale = 1 / max(1e-12, dot(g, g).squareRoot())
                for j in 0..<p { q[j] *= scale }
            }
            for i in 0..<sList.count {
                let beta = rhoList[i] * dot(yList[i], q)
                for j in 0..<p { q[j] += sList[i][j] * (alphas[i] - beta) }
            }
            var d = q.map { -$0 }
            var slope = dot(g, d)
            if !(slope < 0) {
                // Not a descent direction (numerical trouble): restart from steepest descent.
                sList.removeAll(); yList.removeAll(); rhoList.removeAll()
                d = g.map { -$0 }
                slope = -dot(g, g)
            }
            var step = 1.0
            var xNew = x, fNew = fx, gNew = g
            var accepted = false
            for _ in 0..<60 {
                for j in 0..<p { xNew[j] = x[j] + step * d[j] }
                (fNew, gNew) = f(xNew)
                if fNew.isFinite && fNew <= fx + 1e-4 * step * slope { accepted = true; break }
                step *= 0.5
            }
            if !accepted {
                return Result(x: x, value: fx, gradientNorm: infNorm(g), iterations: iteration, converged: false)
            }
            var s = [Double](repeating: 0, count: p), y = s
            for j in 0..<p { s[j] = xNew[j] - x[j]; y[j] = gNew[j] - g[j] }
            let sy = dot(s, y)
            if sy > 1e-10 * dot(s, s).squareRoot() * dot(y, y).squareRoot() {
                sList.append(s); yList.append(y); rhoList.append(1 / sy)
                if sList.count > memory { sList.removeFirst(); yList.removeFirst(); rhoList.removeFirst() }
            }
            let improvement = fx - fNew
            x = xNew; fx = fNew; g = gNew
            if improvement <= relativeTolerance * max(1, abs(fx)) {
                return Result(x: x, value: fx, gradientNorm: infNorm(g), iterations: iteration,
                              converged: infNorm(g) <= 1e3 * gradientTolerance * max(1, abs(fx)))
            }
        }
        return Result(x: x, value: fx, gradientNorm: infNorm(g), iterations: iteration,
                      converged: infNorm(g) <= gradientTolerance * max(1, abs(fx)))
    }
}
