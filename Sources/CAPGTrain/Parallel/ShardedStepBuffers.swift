import CAPGCore
import CAPGParallel

/// The memory an item-sharded step works in, the twin of `StepBuffers`: the trainer owns one
/// and reuses it across chunks and steps (the peak is the one chunk's buffers the memory
/// estimate counts, `MemoryFootprint`), so a step neither allocates nor page-faults its
/// large arrays. (Fresh multi-MB arrays are mapped anew by malloc and cost a zeroed page per
/// 4 KiB on first touch: ≈ 3 GB per step at N = 10⁶, S = 2, B = 256, measured at about a
/// third of the step before this reuse.)
///
/// - `gradient`: the flat `[W | E_s | b_s]` gradient, zeroed per step;
/// - `scores`: the chunk's Float scores (≥ c × n_s, the forward GEMM's output);
/// - `scoreGradient`: the chunk's Float ∂J/∂s (≥ c × n_s, the backward GEMMs' input);
/// - `spareRows`: Double score rows not lent to a chunk (contents stale);
/// - `spareGradientRows`: Double ∂J/∂s rows not lent to a chunk, all zero;
/// - `threshold`: the threshold solve's scratch (n_s weights and indices).
struct ShardedStepBuffers {
    var gradient: [Float] = []
    var scores: [Float] = []
    var scoreGradient: [Float] = []
    var spareRows: [[Double]] = []
    var spareGradientRows: [[Double]] = []
    var threshold = ThresholdShardWorkspace()

    /// A row of n doubles with stale contents, for the caller to overwrite. O(1) when a
    /// spare of that size is left, else O(n).
    mutating func takeRow(_ n: Int) -> [Double] {
        if let row = spareRows.popLast(), row.count == n { return row }
        return [Double](repeating: 0, count: n)
    }

    /// A row of n zeros (to be zeroed again before it is given back: `giveBack(gradientRow:)`).
    /// O(1) when a spare of that size is left, else O(n).
    mutating func takeGradientRow(_ n: Int) -> [Double] {
        if let row = spareGradientRows.popLast(), row.count == n { return row }
        return [Double](repeating: 0, count: n)
    }

    /// Returns a gradient row the caller has zeroed again. O(1).
    mutating func giveBack(gradientRow row: [Double]) { spareGradientRows.append(row) }

    /// Moves the chunk's score rows back to the spares (leaving the chunk without rows).
    /// O(rows).
    mutating func recycle(_ chunk: inout ShardedChunk) {
        spareRows.append(contentsOf: chunk.rows)
        chunk.rows = []
    }

    /// `buffer` resized to `count` and zeroed; the storage is reused when the size is
    /// unchanged (one memset-like pass, no page faults). O(count).
    static func zero(_ buffer: inout [Float], count: Int) {
        if buffer.count != count {
            buffer = [Float](repeating: 0, count: count)
        } else {
            buffer.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
        }
    }

    /// `buffer` grown to at least `count` entries (contents stale; new entries zero). O(1)
    /// when it is large enough.
    static func reserve(_ buffer: inout [Float], count: Int) {
        if buffer.count < count { buffer = [Float](repeating: 0, count: count) }
    }
}
