import CVectorMath
import Foundation

/// The exact top-K of the LSR scores `ℓ(x, a) = α σ(z_a) + σ_ℓ ε_{x,a}`, `z_a = c_a + ⟨x, v_a⟩`,
/// of many synthetic queries, without computing ℓ for every item: what the oracle ESR keeps
/// and (its first entry) the LSR's favourite, which the trainer needs for every evaluation
/// query at start-up. The plain way costs Q·N exact scores (a Philox block, a log, a cos and
/// an exp each: 4 s at N = 10⁵ and a minute at N = 10⁶ for Q = 256).
///
/// Bound-based selection, per query, items in index order:
///
/// 1. `z̃_a`, a dx-term Float dot product of the Float context with the item's latents
///    (computed in the kernel of step 3, on transposed latents), with the error bound `|z̃_a − z_a| ≤ E_a = 2(dx + 2)·2⁻²⁴·(|c_a| + ‖v_a‖₂‖x‖₂)` (Float
///    conversion of x and a dx-term Float dot product in any order, doubled for safety);
/// 2. a min-heap of the K best *exact* scores seen so far, with threshold T its K-th key;
/// 3. since |ε| ≤ ε_max = √(−2 ln 2⁻⁵⁴) (the largest Box–Muller radius of
///    `RandomStream.normal`), item a can reach T only if `α σ(z) + |σ_ℓ| ε_max ≥ T` for
///    some z within E_a of z̃_a, i.e. `z̃_a + E_a ≥ z_cut(T)` for α > 0 (`z̃_a − E_a ≤ z_cut`
///    for α < 0) with `z_cut = logit((T − |σ_ℓ| ε_max − slack)/α)`. This test runs over a
///    query's whole tile of items at once, with the logits (`capg_lsr_candidates_dot`,
///    vectorized, at the cut as it stands when the tile starts: the cut only tightens), and
///    is repeated for its candidates at the current cut;
/// 4. a candidate's own noise bound `|ε_{x,a}| ≤ B_a` (`RandomStream.normalMagnitudeBound`:
///    one Philox block, no log or cos; B_a ≤ 1.18 for half the items, against ε_max = 8.66)
///    rules it out when `α σ(z̃_a ± E_a) + |σ_ℓ| B_a + slack < T`; only the items left get
///    their exact `lateStageScore` (the same function the plain way calls) and are offered.
///
/// A skipped item has ℓ_a < T ≤ the final K-th score, so it is not in the top-K, and the heap
/// orders by (score, smaller index) — the order of `GumbelTopK.topK` — so the result is
/// bitwise the plain `topK` over all N scores (tested). α = 0 (an LSR blind to the reward)
/// leaves no bound: every item is scored exactly. Cost: 2·dx + 5 vectorized flops per
/// (query, item), a Philox block and an exp for the ≈ 3% of items within ≈ 2σ_ℓε_max of
/// the K-th score (default σ_ℓ = 0.05), and exact scores for the few of those whose own
/// noise can reach it; the per-query work on the worker threads, no BLAS call. (Step 3 item
/// by item, then an exact score for each of the 3%: 2.2 s of CPU in the trainer's start-up
/// at N = 10⁶, 1 thread. With the vectorized test after a GEMM per 64 queries × 2048-item
/// tile: 1.1 s, of which 0.3 s GEMM, and at 2 threads another 0.5 s of OpenBLAS's idle
/// threads yielding while the worker threads scanned — perf samples.)
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
        // The first test's per-item terms (`capg_lsr_candidates`): the skip test of step 3,
        // `z̃ + c + E < z_cut` (α > 0) or `z̃ + c − E > z_cut` (α < 0), reassociated as
        // `±z̃ + (±c + s|c|) + s‖v‖·‖x‖ < ±z_cut` with s the error scale.
        let sign: Double = alpha < 0 ? -1 : 1
        var offsets = [Double](repeating: 0, count: n), spreads = [Double](repeating: 0, count: n)
        for a in 0..<n {
            let b = Double(biases[a])
            offsets[a] = sign * b + errorScale * Swift.abs(b)
            spreads[a] = errorScale * norms[a]
        }
        let sigma = Swift.abs(config.lsrNoise)
        // The latents transposed (dx × N), so the logits of 8 consecutive items are dx
        // broadcast multiply-adds in the kernel (`capg_lsr_candidates_dot`).
        let vt = [Float](unsafeUninitializedCapacity: n * dx) { t, initialized in
            latents.withUnsafeBufferPointer { v in
                for a in 0..<n { for j in 0..<dx { t[j * n + a] = v[a * dx + j] } }
            }
            initialized = n * dx
        }
        let queryChunk = 64, itemTile = 2048
        let threads = GEMM.threads
        var result = [[Int]](repeating: [], count: queries.count)
        var xs = [Float](repeating: 0, count: queryChunk * dx)
        // Thread t's logits and list of the first test's candidates in the current tile.
        var zs = [Float](repeating: 0, count: threads * itemTile)
        var found = [Int32](repeating: 0, count: threads * itemTile)
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
                // Query r's heap and cut are its own, and thread t's candidate list: the
                // queries of a tile run on the worker threads (`WorkerThreads`), with results
                // independent of their number.
                heaps.withUnsafeMutableBufferPointer { heaps in
                    cuts.withUnsafeMutableBufferPointer { cuts in
                        zs.withUnsafeMutableBufferPointer { zs in
                            offsets.withUnsafeBufferPointer { offsets in
                                spreads.withUnsafeBufferPointer { spreads in
                                    found.withUnsafeMutableBufferPointer { found in
                                        WorkerThreads.forEach(qc, threads: threads) { r, t in
                                            let q = queries[start + r]
                                            let xn = xNorms[r]
                                            let noiseKey = q.lateStageNoiseKey
                                            /// Scores item a exactly and offers it; the cut follows the heap.
                                            func offer(_ a: Int) {
                                                let before = heaps[r].minimumKey
                                                heaps[r].offer(key: q.lateStageScore(of: a), item: a)
                                                if heaps[r].count == kk && heaps[r].minimumKey != before {
                                                    cuts[r] = Self.cut(threshold: heaps[r].minimumKey!, alpha: alpha, noise: noise)
                                                }
                                            }
                                            // Until the heap is full there is no threshold: every item is offered
                                            // (and always for α = 0, which leaves no bound).
                                            var i = 0
                                            while i < tc && (heaps[r].count < kk || alpha == 0) {
                                                offer(tile + i)
                                                i += 1
                                            }
                                            guard i < tc else { return }
                                            // First test, vectorized, at the cut as it stands: the cut only
                                            // tightens as the heap fills, so an item it skips would be skipped
                                            // later too. Widened by 1e-12 for the reassociated rounding (≈1e-15).
                                            let c0 = sign * cuts[r]
                                            let kernelCut = c0.isFinite ? c0 - 1e-12 * (1 + Swift.abs(c0)) : c0
                                            let list = found.baseAddress! + t * itemTile
                                            let logits = zs.baseAddress! + t * itemTile
                                            let count = vt.withUnsafeBufferPointer { vt in
                                                xs.withUnsafeBufferPointer { xs in
                                                    capg_lsr_candidates_dot(vt.baseAddress! + tile + i, n, dx, xs.baseAddress! + r * dx,
                                                                            offsets.baseAddress! + tile + i,
                                                                            spreads.baseAddress! + tile + i, tc - i, sign, xn,
                                                                            kernelCut, logits, list)
                                                }
                                            }
                                            for j in 0..<count {
                                                let offset = Int(list[j]), a = tile + i + offset
                                                // Step 3 at the current cut, as the item-by-item scan had it.
                                                let b = Double(biases[a])
                                                let z = Double(logits[offset]) + b
                                                let e = errorScale * (Swift.abs(b) + norms[a] * xn)
                                                let zBound = alpha > 0 ? z + e : z - e
                                                if alpha > 0 ? zBound < cuts[r] : zBound > cuts[r] { continue }
                                                // Second test: this item's own noise bound (`normalMagnitudeBound`,
                                                // one Philox block) instead of the worst case ε_max in the cut.
                                                if sigma != 0 {
                                                    let threshold = heaps[r].minimumKey!
                                                    let reach = alpha / (1 + Foundation.exp(-zBound))
                                                        + sigma * RandomStream.normalMagnitudeBound(key: noiseKey, index: a)
                                                    if reach + 1e-9 * (1 + Swift.abs(threshold)) < threshold { continue }
                                                }
                                                offer(a)
                                            }
                                        }
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
