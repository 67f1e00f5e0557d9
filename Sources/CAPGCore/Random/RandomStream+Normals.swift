import Foundation

/// Standard normals by random access: normal number i of a key is Box–Muller on the four
/// words of Philox block i, so any slice of a long normal sequence (an item shard of the
/// embedding table, the environment's latents) is computed without the ones before it, and
/// the sequential `RandomStream.normal()` reads the same numbers (4 words each, in order).
///
/// Indices past 2³² (the block counter's range; 6.4·10⁹ normals for a 10⁸ × 64 table)
/// continue in the counter's `step` word, XOR-ed with the high 32 bits of i, so they do not
/// repeat the first 2³² (which they did while the block index alone wrapped). Indices below
/// 2³² are unchanged.
extension RandomStream {
    /// The `index`-th standard normal of a key. O(1): one Philox block, a log and a cos.
    @inlinable
    public static func normal(key: RandomKey, index: Int) -> Double {
        let w = normalBlock(key: key, index: index)
        return boxMuller(w[0], w[1], w[2], w[3])
    }

    /// The Philox block that normal number `index` of a key is made from (`boxMuller` of its
    /// four words), for callers that bound the normal from the block before paying for its
    /// log and cos (`normalMagnitudeBound`). O(1).
    @inlinable
    static func normalBlock(key: RandomKey, index: Int) -> SIMD4<UInt32> {
        let k = key.extended(to: index)
        return Philox4x32.block(counter: k.counter(block: UInt32(truncatingIfNeeded: index)), key: k.philoxKey)
    }

    /// Box–Muller on one block's words: `u₁, u₂ = (m + ½)·2⁻⁵³` from words (0, 1) and (2, 3),
    /// `z = √(−2 log u₁) · cos(2π u₂)` — exactly what `normal()` computes from its stream.
    @inlinable @inline(__always)
    static func boxMuller(_ w0: UInt32, _ w1: UInt32, _ w2: UInt32, _ w3: UInt32) -> Double {
        let u1 = (Double(UInt64(w0 >> 5) << 26 | UInt64(w1 >> 6)) + 0.5) * 0x1p-53
        let u2 = (Double(UInt64(w2 >> 5) << 26 | UInt64(w3 >> 6)) + 0.5) * 0x1p-53
        return (-2 * Foundation.log(u1)).squareRoot() * Foundation.cos(2 * Double.pi * u2)
    }

    /// Calls `body(i, z)` for i = 0..<count with `z = normal(key: key, index: first + i)`
    /// (bitwise), drawing the words 256 blocks at a time with `PhiloxBatch` instead of one
    /// block per call. With `threads` > 1 the range is cut into that many contiguous parts,
    /// one per thread (`WorkerThreads`), so `body` must tolerate concurrent calls for
    /// distinct i (e.g. write slot i only); the values do not depend on the thread count.
    /// Cost per normal: 4 Philox words, one log, one cos, one sqrt; / threads.
    @inlinable
    public static func forEachNormal(key: RandomKey, first: Int, count: Int, threads: Int = 1,
                                     _ body: (Int, Double) -> Void) {
        forEachBlockChunk(key: key, first: first, count: count, threads: threads) { offset, words, blocks in
            for b in 0..<blocks {
                body(offset + b, boxMuller(words[4 * b], words[4 * b + 1], words[4 * b + 2], words[4 * b + 3]))
            }
        }
    }

    /// The walk shared by the bulk normals (`forEachNormal`, `fillScaledNormals`): random-access
    /// blocks `first ..< first + count` of `key`, their words filled by `PhiloxBatch` up to 256
    /// blocks at a time (never across a multiple of 2³², where `RandomKey.extended` changes the
    /// key), handed to `chunk(offset, words, blocks)` with `offset` the chunk's first block
    /// relative to `first` and block b's words at `words[4b ..< 4b + 4]`. With `threads` > 1
    /// (and at least 65536 blocks per thread) the range is cut into that many contiguous parts,
    /// one per thread (`WorkerThreads`), so `chunk` must tolerate concurrent calls for distinct
    /// offsets. O(count) Philox words / threads.
    @inlinable
    static func forEachBlockChunk(key: RandomKey, first: Int, count: Int, threads: Int,
                                  _ chunk: (_ offset: Int, _ words: UnsafeMutableBufferPointer<UInt32>, _ blocks: Int) -> Void) {
        precondition(first >= 0 && count >= 0, "normals \(first)..<\(first + count)")
        WorkerThreads.forEachPart(of: count, minimumPart: 65_536, threads: threads) { part in
            let size = 256
            withUnsafeTemporaryAllocation(of: UInt32.self, capacity: 4 * size) { words in
                var done = part.lowerBound
                while done < part.upperBound {
                    let index = first + done
                    // A chunk stays below the next multiple of 2³² (where the step word changes).
                    let toBoundary = (1 << 32) - (index & 0xFFFF_FFFF)
                    let blocks = Swift.min(size, part.upperBound - done, toBoundary)
                    PhiloxBatch.fill(UnsafeMutableBufferPointer(rebasing: words[0..<(4 * blocks)]),
                                     key: key.extended(to: index), firstBlock: UInt32(truncatingIfNeeded: index))
                    chunk(done, words, blocks)
                    done += blocks
                }
            }
        }
    }
}

extension RandomKey {
    /// The key whose block `index mod 2³²` holds random-access block `index`: the same key
    /// below 2³², else with the high 32 bits of `index` XOR-ed into the `step` word.
    @inlinable
    func extended(to index: Int) -> RandomKey {
        let high = UInt32(truncatingIfNeeded: index >> 32)
        if high == 0 { return self }
        var k = self
        k.step ^= high
        return k
    }
}
