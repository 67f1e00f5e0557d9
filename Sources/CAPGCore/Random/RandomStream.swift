import Foundation

/// A sequential reader over the Philox blocks of one `RandomKey`.
///
/// Words are consumed in order (block 0 lane 0..3, block 1, …), so the i-th draw of a
/// stream is a pure function of its key and i. Value type: copying a stream forks it.
public struct RandomStream: Sendable {
    public let key: RandomKey
    @usableFromInline var block: UInt32 = 0
    @usableFromInline var buffer: SIMD4<UInt32> = .zero
    @usableFromInline var lane: Int = 4

    public init(_ key: RandomKey) { self.key = key }

    /// Next raw 32-bit word.
    @inlinable
    public mutating func nextWord() -> UInt32 {
        if lane == 4 {
            buffer = Philox4x32.block(counter: key.counter(block: block), key: key.philoxKey)
            block &+= 1
            lane = 0
        }
        defer { lane += 1 }
        return buffer[lane]
    }

    /// Index of the next word this stream will return (block · 4 + lane).
    @inlinable
    public var wordPosition: Int { lane == 4 ? Int(block) * 4 : (Int(block) - 1) * 4 + lane }

    /// Skips `words` words, as if `nextWord()` had been called that many times. O(1): at
    /// most one Philox block is computed (the one the next word comes from).
    @inlinable
    public mutating func advance(words: Int) {
        precondition(words >= 0)
        let p = wordPosition + words
        let b = UInt32(truncatingIfNeeded: p / 4), l = p % 4
        if l == 0 {
            block = b; lane = 4
        } else {
            buffer = Philox4x32.block(counter: key.counter(block: b), key: key.philoxKey)
            block = b &+ 1; lane = l
        }
    }

    /// Uniform on the open interval (0, 1) with 53 random bits: `(m + ½)·2⁻⁵³`, m from two words.
    @inlinable
    public mutating func uniform() -> Double {
        let hi = UInt64(nextWord() >> 5), lo = UInt64(nextWord() >> 6)
        let m = hi << 26 | lo
        return (Double(m) + 0.5) * 0x1p-53
    }

    /// Uniform on (0, 1) with 24 random bits from one word (for fast float paths).
    @inlinable
    public mutating func uniformFloat() -> Float {
        (Float(nextWord() >> 8) + 0.5) * 0x1p-24
    }

    /// Standard Gumbel: `−log(−log u)`.
    @inlinable
    public mutating func gumbel() -> Double { -Foundation.log(-Foundation.log(uniform())) }

    /// Standard normal by Box–Muller (uses two uniforms per draw; no cached second value,
    /// so the i-th normal depends only on draws 2i and 2i+1).
    @inlinable
    public mutating func normal() -> Double {
        let u1 = uniform(), u2 = uniform()
        return (-2 * Foundation.log(u1)).squareRoot() * Foundation.cos(2 * Double.pi * u2)
    }

    /// Bernoulli(p).
    @inlinable
    public mutating func bernoulli(_ p: Double) -> Bool { uniform() < p }

    /// Uniform integer in 0..<n (Lemire's multiply-shift, negligible bias for n ≪ 2^32).
    @inlinable
    public mutating func index(below n: Int) -> Int {
        Int((UInt64(nextWord()) &* UInt64(n)) >> 32)
    }
}
