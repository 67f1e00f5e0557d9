import Foundation

/// The exact top-K of the LSR scores `ℓ(x, a) = α σ(z_a) + σ_ℓ ε_{x,a}`, `z_a = c_a + ⟨x, v_a⟩`,
/// of many synthetic queries, without computing ℓ for every item: what the oracle ESR keeps
/// and (its first entry) the LSR's favourite, which the trainer needs for every evaluation
/// query at start-up. The plain way costs Q·N exact scores (a Philox block, a log, a cos and
/// an exp each: 4 s at N = 10⁵ and a minute at N = 10⁶ for Q = 256).
///
/// Bound-based selection, per query, items in index order:
///
/// 1. `z̃_a` for a tile of items by one Float GEMM over a chunk of queries (X · Vᵀ), with
///    the error bound `|z̃_a − z_a| ≤ E_a = 2(dx + 2)·2⁻²⁴·(|c_a| + ‖v_a‖₂‖x‖₂)` (Float
///    conversion of x and a dx-term Float dot product in any order, doubled for safety);
/// 2. a min-heap of the K best *exact* scores seen so far, with threshold T its K-th key;
/// 3. since |ε| ≤ ε_max = √(−2 ln 2⁻⁵⁴) (the largest Box–Muller radius of
///    `RandomStream.normal`), item a can reach T only if `α σ(z) + |σ_ℓ| ε_max ≥ T` for
///    some z within E_a of z̃_a, i.e. `z̃_a + E_a ≥ z_cut(T)` for α > 0 (`z̃_a − E_a ≤ z_cut`
///    for α < 0) with `z_cut = logit((T − |σ_ℓ| ε_max − slack)/α)`; only those items get
///    their exact `lateStageScore` (the same function the plain way calls) and are offered.
///
/// A skipped item has ℓ_a < T ≤ the final K-th score, so it is not in the top-K, and the heap
/// orders by (score, smaller index) — the order of `GumbelTopK.topK` — so the result is
/// bitwise the plain `topK` over all N scores (tested). α = 0 (an LSR blind to the reward)
/// leaves no bound: every item is scored exactly. Cost: 2·Q·N·dx flops of GEMM, a compare
/// per (query, item), and exact scores for the items within ≈ 2σ_ℓε_max of the K-th score
/// (≈ 3% of N with the default σ_ℓ = 0.05); the per-query work on the BLAS threads.
extension SyntheticEnvironment {
    /// The largest |ε| of `RandomStream.normal`: its u₁ is at least 2⁻⁵⁴ and |cos| ≤ 1
    /// (padded by 1e-9 relative for the rounding of log, sqrt and the product).
    static let noiseBound = (-2 * Foundation.log(0x1p-54)).squareRoot() * (1 + 1e-9)

    /// `GumbelTopK.topK` of the exact LSR scores of every item, for each of `queries`
    /// (largest first, ties to the smaller index). Nil when this environment does not hold
    /// every item (an item shard): callers then score all items themselves.
    public func lateStageTopK(queries: [SyntheticQuery], k: Int) -> [[Int]]? {
        let n = config.items, dx = config.contextDim
        guard storedItems == 0..<n, k >= 1 else { return nil }
        let kk = Swift.min(k, n)
        let alpha = config.lsrAlignment
        let noise = Swift.abs(config.lsrNoise) * Self.noiseBound
        // ‖v_a‖₂ of every item, once (the factor of E_a that does not depend on the query).
        var norms = [Double](repeating: 0, count: n)
        latents.withUnsafeBufferPointer { v in
            for a in 0..<n {
                var s = 0.0
                for j in 0..<dx { let x = Double(v[a * dx + j]); s += x * x }
                norms[a] = s.squareRoot()
            }
        }
        let errorScale = 2 * Double(dx + 2) * 0x1p-24
        let queryChunk = 64, itemTile = 2048
        let threads = GEMM.threads
        var result = [[Int]](repeating: [], count: queries.count)
        var xs = [Float](repeating: 0, count: queryChunk * dx)
        var zs = [Float](repeating: 0, count: queryChunk * itemTile)
        var start = 0
        while start < queries.count {
            let qc = Swift.min(queryChunk, queries.count - start)
            var heaps = (0..<qc).map { _ in TopKHeap(capacity: kk) }
            var cuts = [Double](repeating: alpha > 0 ? -.infinity : .infinity, count: qc)
            var xNorms = [Double](repeating: 0, count: qc)
            for r in 0..<qc {
                let x = queries[start + r].context
                precondition(x.count == dx, "context has \(x.count) values, the environment has \(dx)")
                var s = 0.0
                for j in 0..<dx { xs[r * dx + j] = Float(x[j]); s += x[j] * x[j] }
                xNorms[r] = s.squareRoot()
            }
            var tile = 0
            while tile < n {
                let tc = Swift.min(itemTile, n - tile)
                if alpha != 0 {
                    xs.withUnsafeBufferPointer { xb in
                        latents.withUnsafeBufferPointer { vb in
                            zs.withUnsafeMutableBufferPointer { zb in
                                GEMM.sgemm(.none, .transpose, m: qc, n: tc, k: dx, a: xb.baseAddress!, lda: dx,
                                           b: vb.baseAddress! + tile * dx, ldb: dx, c: zb.baseAddress!, ldc: tc)
                            }
                        }
                    }
                }
                // Query r's heap and cut are its own: the queries of a tile run on the worker
                // threads (`WorkerThreads`), with results independent of their number.
                heaps.withUnsafeMutableBufferPointer { heaps in
                    cuts.withUnsafeMutableBufferPointer { cuts in
                        zs.withUnsafeBufferPointer { zs in
                            WorkerThreads.forEach(qc, threads: threads) { r, _ in
                                let q = queries[start + r]
                                let xn = xNorms[r]
                                for i in 0..<tc {
                                    let a = tile + i
                                    if heaps[r].keys.count == kk && alpha != 0 {
                                        let b = Double(biases[a])
                                        let z = Double(zs[r * tc + i]) + b
                                        let e = errorScale * (Swift.abs(b) + norms[a] * xn)
                                        if alpha > 0 ? z + e < cuts[r] : z - e > cuts[r] { continue }
                                    }
                                    let before = heaps[r].keys.first
                                    heaps[r].offer(key: q.lateStageScore(of: a), item: a)
                                    if heaps[r].keys.count == kk && heaps[r].keys.first != before {
                                        cuts[r] = Self.cut(threshold: heaps[r].keys[0], alpha: alpha, noise: noise)
                                    }
                                }
                            }
                        }
                    }
                }
                tile += tc
            }
            for r in 0..<qc { result[start + r] = heaps[r].sortedDescending() }
            start += qc
        }
        return result
    }

    /// `z_cut` for the threshold T (see the type's documentation): items with
    /// `α σ(z) + noise < T` for every z beyond it cannot enter. ±∞ when no or every z can.
    static func cut(threshold t: Double, alpha: Double, noise: Double) -> Double {
        // 1e-9 covers the rounding of q = 1/(1 + e^{−z}) and of ℓ (≈1e-16) many times over.
        let slack = 1e-9 * (1 + Swift.abs(t))
        let p = (t - noise - slack) / alpha
        if alpha > 0 {
            if p <= 0 { return -.infinity }  // every z reaches T
            if p >= 1 { return .infinity }  // no z does
        } else {
            if p >= 1 { return .infinity }
            if p <= 0 { return -.infinity }
        }
        let logit = Foundation.log(p) - Foundation.log1p(-p)
        let margin = 1e-9 * (1 + Swift.abs(logit))
        return alpha > 0 ? logit - margin : logit + margin
    }
}
