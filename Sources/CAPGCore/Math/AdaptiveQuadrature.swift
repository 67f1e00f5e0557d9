import Foundation

/// Globally adaptive Gauss–Kronrod 7/15 quadrature of a vector-valued function on a
/// finite interval (the QUADPACK QAG strategy, for several integrands at once).
///
/// Each panel `[a, b]` is integrated by the 15-point Kronrod rule `K15`; the embedded
/// 7-point Gauss rule `G7` reuses 7 of its nodes, and `|K15 − G7|` (per component) is the
/// panel's error estimate. This estimate is deliberately pessimistic: for a smooth
/// integrand `K15` is far more accurate than `G7`, so the returned integral is usually
/// much better than the reported error.
///
/// The strategy: start from the caller's breakpoints (they should bracket every scale
/// on which the integrand changes: an adaptive rule cannot refine a feature that none
/// of its nodes sees), then repeatedly bisect the panel with the largest normalized
/// error until, for every controlled component c,
///
///   Σ_panels |K15 − G7|_c ≤ max(absoluteTolerance, relativeTolerance · |I_c|).
///
/// Components beyond `controlled` are integrated on the same nodes but do not drive the
/// refinement, so cheap "driver" integrands can decide the partition and expensive
/// ones can be evaluated once, afterwards, on `Result.forEachNode`.
public struct AdaptiveQuadrature: Sendable {
    public var relativeTolerance: Double
    public var absoluteTolerance: Double
    /// Refinement stops (with `converged == false`) once this many panels exist.
    public var maximumPanels: Int

    /// Tolerances as in the type's documentation; O(1).
    public init(relativeTolerance: Double = 1e-13, absoluteTolerance: Double = 0, maximumPanels: Int = 4000) {
        precondition(relativeTolerance >= 0 && absoluteTolerance >= 0, "tolerances must be non-negative")
        precondition(maximumPanels >= 1, "maximumPanels must be positive")
        self.relativeTolerance = relativeTolerance
        self.absoluteTolerance = absoluteTolerance
        self.maximumPanels = maximumPanels
    }

    /// One accepted panel of the partition with its K15 integrals and error estimates.
    public struct Panel: Sendable {
        public var lower: Double
        public var upper: Double
        public var integral: [Double]
        public var error: [Double]
        /// False once the midpoint is no longer representable strictly inside the panel.
        var splittable: Bool
    }

    /// The outcome of `integrate`.
    public struct Result: Sendable {
        /// `Σ_panels K15` per component.
        public var integral: [Double]
        /// `Σ_panels |K15 − G7|` per component.
        public var errorEstimate: [Double]
        /// The final partition, in increasing order.
        public var panels: [Panel]
        /// Number of integrand evaluations (15 per panel ever evaluated).
        public var evaluations: Int
        /// Whether every controlled component met its tolerance.
        public var converged: Bool

        /// Calls `body(x, weight)` for the 15 Kronrod nodes of every accepted panel, so
        /// `Σ weight · g(x)` is the K15 rule for any `g` on the accepted partition. This
        /// is how integrands that were not used for error control reuse the adapted
        /// nodes. 15 calls per panel.
        public func forEachNode(_ body: (_ x: Double, _ weight: Double) throws -> Void) rethrows {
            for p in panels { try AdaptiveQuadrature.forEachKronrodNode(lower: p.lower, upper: p.upper, body) }
        }
    }

    // Kronrod abscissae on [-1, 1] (descending, the last is the centre) and weights;
    // the odd-indexed abscissae (and the centre) are the 7-point Gauss nodes.
    @usableFromInline static let kronrodNodes: [Double] = [
        0.991455371120812639206854697526329, 0.949107912342758524526189684047851,
        0.864864423359769072789712788640926, 0.741531185599394439863864773280788,
        0.586087235467691130294144845693013, 0.405845151377397166906606412076961,
        0.207784955007898467600689403773245, 0.0,
    ]
    @usableFromInline static let kronrodWeights: [Double] = [
        0.022935322010529224963732008058970, 0.063092092629978553290700663189204,
        0.104790010322250183839876322541518, 0.140653259715525918745189590510238,
        0.169004726639267902826583426598550, 0.190350578064785409913256402421014,
        0.204432940075298892414161999234649, 0.209482141084727828012999174891714,
    ]
    /// Gauss weights of nodes 1, 3, 5 and the centre.
    @usableFromInline static let gaussWeights: [Double] = [
        0.129484966168869693270611432679082, 0.279705391489276667901467771423780,
        0.381830050505118944950369775488975, 0.417959183673469387755102040816327,
    ]

    /// Calls `body(x, weight)` for the 15 Kronrod nodes of `[lower, upper]` (weights
    /// already scaled by the half-width). 15 calls.
    public static func forEachKronrodNode(lower: Double, upper: Double, _ body: (_ x: Double, _ weight: Double) throws -> Void) rethrows {
        let c = 0.5 * (lower + upper), h = 0.5 * (upper - lower)
        try body(c, h * kronrodWeights[7])
        for i in 0..<7 {
            let dx = h * kronrodNodes[i]
            try body(c - dx, h * kronrodWeights[i])
            try body(c + dx, h * kronrodWeights[i])
        }
    }

    /// K15 and |K15 − G7| of `f` on one panel; 15 evaluations of f.
    static func panel(
        lower: Double, upper: Double, dimension: Int,
        _ f: (Double, inout [Double]) -> Void, scratch: inout [Double]
    ) -> Panel {
        var kronrod = [Double](repeating: 0, count: dimension)
        var gauss = [Double](repeating: 0, count: dimension)
        let c = 0.5 * (lower + upper), h = 0.5 * (upper - lower)
        f(c, &scratch)
        for d in 0..<dimension {
            kronrod[d] = kronrodWeights[7] * scratch[d]
            gauss[d] = gaussWeights[3] * scratch[d]
        }
        for i in 0..<7 {
            let dx = h * kronrodNodes[i]
            for x in [c - dx, c + dx] {
                f(x, &scratch)
                for d in 0..<dimension { kronrod[d] += kronrodWeights[i] * scratch[d] }
                if i % 2 == 1 {
                    for d in 0..<dimension { gauss[d] += gaussWeights[i / 2] * scratch[d] }
                }
            }
        }
        var error = [Double](repeating: 0, count: dimension)
        for d in 0..<dimension {
            kronrod[d] *= h
            error[d] = Swift.abs(kronrod[d] - h * gauss[d])
        }
        let mid = c
        return Panel(lower: lower, upper: upper, integral: kronrod, error: error,
                     splittable: lower < mid && mid < upper)
    }

    /// `∫ f(x) dx` over `[breakpoints.first, breakpoints.last]` for a vector-valued `f`
    /// (`f(x, &out)` must assign all `dimension` entries of `out`), refining only on the
    /// first `controlled` components (default: all).
    ///
    /// `breakpoints` must be strictly increasing (at least two). Cost: 15 evaluations per
    /// panel ever created, plus O(panels · dimension) bookkeeping per bisection.
    public func integrate(
        breakpoints: [Double], dimension: Int, controlled: Int? = nil,
        _ f: (Double, inout [Double]) -> Void
    ) -> Result {
        precondition(breakpoints.count >= 2, "need at least two breakpoints")
        precondition(dimension >= 1, "dimension must be positive")
        for i in 1..<breakpoints.count {
            precondition(breakpoints[i - 1] < breakpoints[i], "breakpoints must be strictly increasing")
        }
        let nControlled = Swift.min(controlled ?? dimension, dimension)
        var scratch = [Double](repeating: 0, count: dimension)
        var panels: [Panel] = []
        panels.reserveCapacity(Swift.min(maximumPanels, 64))
        for i in 1..<breakpoints.count {
            panels.append(Self.panel(lower: breakpoints[i - 1], upper: breakpoints[i], dimension: dimension, f, scratch: &scratch))
        }
        var evaluations = 15 * panels.count
        var total = [Double](repeating: 0, count: dimension)
        var errorTotal = [Double](repeating: 0, count: dimension)
        var converged = false
        while true {
            // Totals are re-summed rather than updated incrementally so that no drift
            // from repeated add/subtract can keep a converged integral "unconverged".
            for d in 0..<dimension { total[d] = 0; errorTotal[d] = 0 }
            for p in panels {
                for d in 0..<dimension { total[d] += p.integral[d]; errorTotal[d] += p.error[d] }
            }
            var tolerance = [Double](repeating: 0, count: nControlled)
            converged = true
            for d in 0..<nControlled {
                tolerance[d] = Swift.max(absoluteTolerance, relativeTolerance * Swift.abs(total[d]), Double.leastNormalMagnitude)
                if errorTotal[d] > tolerance[d] { converged = false }
            }
            if converged || panels.count >= maximumPanels { break }
            var worst = -1
            var worstRatio = 0.0
            for (i, p) in panels.enumerated() where p.splittable {
                var ratio = 0.0
                for d in 0..<nControlled { ratio = Swift.max(ratio, p.error[d] / tolerance[d]) }
                if ratio > worstRatio { worstRatio = ratio; worst = i }
            }
            if worst < 0 { break }  // every panel with error is already at floating-point width
            let old = panels[worst]
            let mid = 0.5 * (old.lower + old.upper)
            let left = Self.panel(lower: old.lower, upper: mid, dimension: dimension, f, scratch: &scratch)
            let right = Self.panel(lower: mid, upper: old.upper, dimension: dimension, f, scratch: &scratch)
            evaluations += 30
            panels[worst] = left
            panels.insert(right, at: worst + 1)
        }
        return Result(integral: total, errorEstimate: errorTotal, panels: panels,
                      evaluations: evaluations, converged: converged)
    }
}
