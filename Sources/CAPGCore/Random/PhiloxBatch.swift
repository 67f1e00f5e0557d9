import CVectorMath

/// Philox-4x32-10 over many consecutive blocks at once: the same words as
/// `RandomStream` (block b, lanes 0…3 in order), computed by the C kernel
/// `capg_philox4x32_fill` (`Sources/CVectorMath/philox.c`).
///
/// With AVX2 (chosen once per process by CPUID) the kernel keeps 16 blocks in
/// structure-of-arrays registers (two interleaved groups of 8, one counter word per
/// vector), takes the high words of the 32×32→64 products with `vpmuludq` on even and odd
/// lanes and the low words with `vpmulld`, transposes the 4×8 words of each group to
/// block-major order with unpack/permute and writes them with 256-bit stores; blocks beyond
/// a multiple of 8 are computed one at a time. Without AVX2 it runs the same rounds on
/// 8-lane generic vectors (SSE2/NEON). Cost: per round of 8 blocks (32 words) 4 `vpmuludq`,
/// 2 `vpmulld` and 10 shifts/blends/xors, plus a 12-shuffle transpose per 8 blocks.
/// Measured on one AVX2 EPYC (Zen 3) core (`capg bench` ceilings, 7 alternating rounds,
/// shared machine): 1.52e9 words/s median, 2.4× the former Swift `SIMD8` version (6.2e8;
/// per-round ratios 0.8–3.1×, the low one from a round where the new binary was starved),
/// which was compiled for the baseline ISA (SSE2, 2 lanes per multiply) and scattered its
/// 32 words with scalar stores. In the trainer it is the uniforms of `GumbelTopK` (every
/// step, and the evaluation sampling at start-up): `capg train --items 1000000 --steps 1`
/// ran in 0.86× the wall time (0.75–0.95×, 3 alternating rounds), same fingerprint.
public enum PhiloxBatch {
    /// Fills `out` (its count must be a multiple of 4) with the words of blocks
    /// `firstBlock, firstBlock + 1, …` of `key`'s stream, block-major (lane 0…3 per block).
    /// Bitwise equal to reading `out.count` words from a `RandomStream(key)` positioned at
    /// block `firstBlock`. The block counter wraps modulo 2³² like the stream's. `out` needs
    /// no alignment. Cost: O(`out.count`), see the type's comment.
    @inlinable
    public static func fill(_ out: UnsafeMutableBufferPointer<UInt32>, key: RandomKey, firstBlock: UInt32) {
        precondition(out.count % 4 == 0, "PhiloxBatch.fill needs a multiple of 4 words (got \(out.count))")
        guard let p = out.baseAddress, out.count > 0 else { return }
        let k = key.philoxKey
        let c = key.counter(block: firstBlock)
        capg_philox4x32_fill(p, out.count / 4, c[0], c[1], c[2], c[3], k[0], k[1])
    }

    /// `fill` through the kernel's generic (non-AVX2) variant on every CPU, for tests.
    static func fillGeneric(_ out: UnsafeMutableBufferPointer<UInt32>, key: RandomKey, firstBlock: UInt32) {
        precondition(out.count % 4 == 0)
        guard let p = out.baseAddress, out.count > 0 else { return }
        let k = key.philoxKey
        let c = key.counter(block: firstBlock)
        capg_philox4x32_fill_generic(p, out.count / 4, c[0], c[1], c[2], c[3], k[0], k[1])
    }

    /// Whether `fill` runs the AVX2 variant on this CPU (for the benchmark's report).
    public static var usesAVX2: Bool { capg_philox_uses_avx2() != 0 }
}
