import Foundation

/// Shape of the two-tower early-stage ranker
///
///   s_i(x) = ⟨u(x), e_i⟩ + b_i,   u(x) = W x,
///
/// with `W ∈ R^{d×dx}`, item embeddings `E ∈ R^{N×d}` and item biases `b ∈ R^N`.
/// All parameters live in one flat `Float` buffer laid out `[W | E | b]` (row-major), so
/// that a gradient is one contiguous buffer for a single fused allreduce.
public struct TwoTowerShape: Hashable, Sendable, Codable {
    public var items: Int
    public var embeddingDim: Int
    public var contextDim: Int

    public init(items: Int, embeddingDim: Int, contextDim: Int) {
        self.items = items; self.embeddingDim = embeddingDim; self.contextDim = contextDim
    }

    public var wCount: Int { embeddingDim * contextDim }
    public var eCount: Int { items * embeddingDim }
    public var wOffset: Int { 0 }
    public var eOffset: Int { wCount }
    public var bOffset: Int { wCount + eCount }
    /// Total number of parameters `d·dx + N·d + N`.
    public var parameterCount: Int { wCount + eCount + items }

    /// Named tensors of the flat buffer: (name, offset, shape).
    public var tensors: [(name: String, offset: Int, shape: [Int])] {
        [("W", wOffset, [embeddingDim, contextDim]),
         ("E", eOffset, [items, embeddingDim]),
         ("b", bOffset, [items])]
    }
}

/// The two-tower ESR's forward and backward passes over a batch of B contexts.
///
/// Forward: `U = X Wᵀ` (B×d) and `S = U Eᵀ + 1 bᵀ` (B×N), two GEMMs.
/// Backward from `G = ∂J/∂S` (B×N): `∂b = Σ_rows G`, `∂E = Gᵀ U` (GEMM N×B·B×d),
/// `∂U = G E` (GEMM B×N·N×d), `∂W = ∂Uᵀ X`. Cost: ≈ 6·B·N·d flops for the pair.
public struct TwoTowerESR: Sendable {
    public let shape: TwoTowerShape

    public init(shape: TwoTowerShape) { self.shape = shape }

    /// Initial parameters: `W ~ N(0, 1/dx)`, `E ~ N(0, initScale²/d)`, `b = 0`, from the
    /// `parameterInit` stream of `seed` (so every rank draws the same values).
    public func initialParameters(seed: UInt64, initScale: Double) -> [Float] {
        let key = RandomKey(seed: seed, purpose: .parameterInit)
        let sw = 1 / Double(shape.contextDim).squareRoot()
        let se = initScale / Double(shape.embeddingDim).squareRoot()
        // Every slot is written below (W and E drawn, b zeroed), so no zero fill first: a
        // pass over 4(N·d + N) bytes fewer (260 MB at N = 10⁶, d = 64).
        return [Float](unsafeUninitializedCapacity: shape.parameterCount) { b, initialized in
            guard let base = b.baseAddress else { initialized = 0; return }
            let (w, e) = (base + shape.wOffset, base + shape.eOffset)
            (base + shape.bOffset).initialize(repeating: 0, count: shape.items)
            // On the BLAS threads (the values do not depend on how many).
            let threads = GEMM.threads
            // `Float(z · scale)` of normal i, bitwise, without a libm log and cos per value.
            RandomStream.fillScaledNormals(key: key, first: 0, count: shape.wCount, scale: sw, threads: threads, into: w)
            RandomStream.fillScaledNormals(key: key, first: shape.wCount, count: shape.eCount, scale: se, threads: threads,
                                           into: e)
            initialized = shape.parameterCount
        }
    }

    /// Scores `S = (X Wᵀ) Eᵀ + b` for `batch` contexts; `contexts` is B×dx, `user` (B×d)
    /// and `scores` (B×N) are caller-owned outputs (the backward pass needs `user`).
    public func forward(
        parameters: UnsafeBufferPointer<Float>, contexts: UnsafeBufferPointer<Float>, batch: Int,
        user: UnsafeMutableBufferPointer<Float>, scores: UnsafeMutableBufferPointer<Float>
    ) {
        let d = shape.embeddingDim, dx = shape.contextDim, n = shape.items
        precondition(contexts.count >= batch * dx && user.count >= batch * d && scores.count >= batch * n)
        guard batch > 0 else { return }
        let base = parameters.baseAddress!
        GEMM.sgemm(.none, .transpose, m: batch, n: d, k: dx, a: contexts.baseAddress!, lda: dx,
                   b: base + shape.wOffset, ldb: dx, c: user.baseAddress!, ldc: d)
        // The bias rides in the GEMM: every row starts as b and the GEMM adds U Eᵀ to it
        // (β = 1), so S costs one write pass before the GEMM instead of the GEMM's zeroing
        // pass (β = 0) plus a read-modify-write pass after it. The sum is the same
        // fl(b + (U Eᵀ)_ri) as before whenever OpenBLAS takes the d-term dot product in one
        // block (d up to its K blocking, a few hundred).
        let bias = UnsafeRawPointer(base + shape.bOffset)
        for r in 0..<batch {
            UnsafeMutableRawPointer(scores.baseAddress! + r * n).copyMemory(from: bias, byteCount: n * MemoryLayout<Float>.stride)
        }
        GEMM.sgemm(.none, .transpose, m: batch, n: n, k: d, a: user.baseAddress!, lda: d,
                   b: base + shape.eOffset, ldb: d, beta: 1, c: scores.baseAddress!, ldc: n)
    }

    /// Adds `∂J/∂θ` to `gradient` (flat `[W | E | b]` layout) given `∂J/∂S` for the batch.
    /// `scratch` must hold B·d floats.
    public func backward(
        parameters: UnsafeBufferPointer<Float>, contexts: UnsafeBufferPointer<Float>,
        user: UnsafeBufferPointer<Float>, scoreGradient: UnsafeBufferPointer<Float>, batch: Int,
        gradient: UnsafeMutableBufferPointer<Float>, scratch: UnsafeMutableBufferPointer<Float>
    ) {
        let d = shape.embeddingDim, dx = shape.contextDim, n = shape.items
        guard batch > 0 else { return }
        precondition(scratch.count >= batch * d && gradient.count == shape.parameterCount)
        let g = gradient.baseAddress!
        let gs = scoreGradient.baseAddress!
        // ∂b = column sums of G, each column summed over the rows in order (r = 0, 1, …), one
        // contiguous range of items per thread: the same bits for every thread count (the
        // order per column does not change), and with one thread the plain row-by-row pass
        // (narrower tiles, 256 short strided streams each, measured slower).
        let gb = g + shape.bOffset
        WorkerThreads.forEachPart(of: n, minimumPart: 4096, threads: GEMM.threads) { part in
            for r in 0..<batch {
                let row = gs + r * n
                for i in part { gb[i] += row[i] }
            }
        }
        // ∂E += Gᵀ U  (N×d)
        GEMM.sgemm(.transpose, .none, m: n, n: d, k: batch, a: gs, lda: n,
                   b: user.baseAddress!, ldb: d, beta: 1, c: g + shape.eOffset, ldc: d)
        // ∂U = G E  (B×d), then ∂W += ∂Uᵀ X  (d×dx)
        GEMM.sgemm(.none, .none, m: batch, n: d, k: n, a: gs, lda: n,
                   b: parameters.baseAddress! + shape.eOffset, ldb: d, c: scratch.baseAddress!, ldc: d)
        GEMM.sgemm(.transpose, .none, m: d, n: dx, k: batch, a: scratch.baseAddress!, lda: d,
                   b: contexts.baseAddress!, ldb: dx, beta: 1, c: g + shape.wOffset, ldc: dx)
    }
}
