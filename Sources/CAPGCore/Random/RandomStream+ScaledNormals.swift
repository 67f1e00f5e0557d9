import CVectorMath

/// Random-access normals scaled and rounded to Float in bulk, bitwise the libm path:
/// `out[i] = Float(normal(key: key, index: first + i) * scale)`. What the large Float
/// tables drawn from normals (the ESR's initial parameters, the environment's item latents)
/// need, at a fraction of the cost of a libm log and cos per value.
///
/// The Philox words come 256 blocks at a time from `PhiloxBatch` (as `forEachNormal`); the
/// C kernel `capg_scaled_normals` then computes each value with its own vectorized log and
/// cos, whose distance to libm's is bounded, and keeps it only where the whole interval
/// around it rounds to one Float — so to libm's Float. The rest (≈ 0.3%) are recomputed
/// here through `boxMuller`, i.e. libm, exactly as `forEachNormal` would (0.15% of 3·10⁸
/// random blocks, none decided wrongly). Cost per value: 4 Philox words and ~80 vectorized
/// flops, / threads: the 64·10⁶ normals of the initial parameters at N = 10⁶, d = 64 took
/// 2.5 s of CPU with a libm log and cos each, 0.8 s this way (0.6 s kernel, 0.2 s Philox;
/// perf samples, 1 thread).
extension RandomStream {
    /// Fills `out[0..<count]` (see the extension). With `threads` > 1 the range is cut into
    /// contiguous parts, one per thread (`WorkerThreads`); the values do not depend on it.
    public static func fillScaledNormals(key: RandomKey, first: Int, count: Int, scale: Double, threads: Int = 1,
                                         into out: UnsafeMutablePointer<Float>) {
        precondition(first >= 0 && count >= 0, "normals \(first)..<\(first + count)")
        // The kernel's interval has width ∝ |scale|: at 0 (or so small that it underflows)
        // it would decide the sign of a zero without a margin, so such scales (e.g.
        // init_scale 0) and non-finite ones take the libm path throughout.
        guard scale.isFinite, scale.magnitude >= 0x1p-600 else {
            forEachNormal(key: key, first: first, count: count, threads: threads) { i, z in out[i] = Float(z * scale) }
            return
        }
        forEachBlockChunk(key: key, first: first, count: count, threads: threads) { offset, words, blocks in
            // The undecided list on the calling thread's stack (≤ 1 KB per chunk).
            withUnsafeTemporaryAllocation(of: Int32.self, capacity: blocks) { undecided in
                let left = capg_scaled_normals(words.baseAddress!, blocks, scale, out + offset, undecided.baseAddress!)
                for j in 0..<left {
                    let b = Int(undecided[j])
                    out[offset + b] = Float(boxMuller(words[4 * b], words[4 * b + 1], words[4 * b + 2], words[4 * b + 3]) * scale)
                }
            }
        }
    }
}
