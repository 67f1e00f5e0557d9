/// Philox-4x32-10, the counter-based generator of Salmon et al., "Parallel random numbers:
/// as easy as 1, 2, 3" (SC'11), exactly as in the Random123 reference implementation.
///
/// A block is a pure function `(counter: 4×UInt32, key: 2×UInt32) → 4×UInt32`, so any
/// random number can be recomputed from its coordinates alone; that is what makes every
/// draw in capg keyed by `(seed, step, query id, sample index)` and independent of the
/// number of ranks. Cost: 10 rounds of two 32×32→64 multiplies per 4 words.
public enum Philox4x32 {
    @usableFromInline static let m0: UInt64 = 0xD251_1F53
    @usableFromInline static let m1: UInt64 = 0xCD9E_8D57
    @usableFromInline static let w0: UInt32 = 0x9E37_79B9
    @usableFromInline static let w1: UInt32 = 0xBB67_AE85

    /// One 10-round Philox-4x32 block.
    @inlinable
    public static func block(counter: SIMD4<UInt32>, key: SIMD2<UInt32>) -> SIMD4<UInt32> {
        var c0 = counter[0], c1 = counter[1], c2 = counter[2], c3 = counter[3]
        var k0 = key[0], k1 = key[1]
        for round in 0..<10 {
            if round > 0 { k0 &+= w0; k1 &+= w1 }
            let p0 = m0 &* UInt64(c0)
            let p1 = m1 &* UInt64(c2)
            let hi0 = UInt32(truncatingIfNeeded: p0 >> 32), lo0 = UInt32(truncatingIfNeeded: p0)
            let hi1 = UInt32(truncatingIfNeeded: p1 >> 32), lo1 = UInt32(truncatingIfNeeded: p1)
            c0 = hi1 ^ c1 ^ k0
            c1 = lo1
            c2 = hi0 ^ c3 ^ k1
            c3 = lo0
        }
        return SIMD4(c0, c1, c2, c3)
    }
}
