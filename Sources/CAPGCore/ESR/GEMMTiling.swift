/// How `GEMM.sgemm` cuts an m×n×k product into single-threaded OpenBLAS calls. The rule
/// reads the shape only — never the thread count — so the calls, and with them every bit
/// of the result, are the same however many threads run them:
///
/// - small products (m·n·k < 2²¹) are one call;
/// - otherwise the larger output side (n, or m when m > n) is cut into equal-width tiles of
///   `width(side)` = max(512, ⌈side/64⌉ rounded up to 64) when that gives at least two
///   tiles: up to 64 tiles, so a rank's threads stay busy up to 64 of them, and each tile
///   repacks only the small operand (the step's forward `U Eᵀ` and `∂E = Gᵀ U` cut N);
/// - otherwise (both output sides short, k long: the step's `∂U = G E`, 256×64×N) k is cut
///   into tiles of width(k) and the partial products are summed in tile order.
///
/// The last tile of a side holds the remainder. Cost: O(1) to plan.
public struct GEMMTiling: Equatable, Sendable {
    public enum Split: Equatable, Sendable { case none, rows, columns, depth }

    public let split: Split
    /// The length of the cut side (m, n or k) and the tile width along it.
    public let extent: Int
    public let width: Int

    /// Products below this many multiply-adds are not cut.
    public static let minimumWork = 1 << 21

    public init(m: Int, n: Int, k: Int) {
        let work = m.multipliedReportingOverflow(by: n)
        let big = work.overflow || work.partialValue.multipliedReportingOverflow(by: max(k, 0)).overflow
            || work.partialValue * max(k, 0) >= Self.minimumWork
        let side = max(m, n)
        if big && side >= 2 * Self.width(side) {
            split = n >= m ? .columns : .rows
            extent = side
        } else if big && k >= 2 * Self.width(k) {
            split = .depth
            extent = k
        } else {
            split = .none
            extent = 0
        }
        width = split == .none ? 0 : Self.width(extent)
    }

    /// Tile width for a side of `length`: at most 64 tiles, each at least 512 wide, a
    /// multiple of 64.
    static func width(_ length: Int) -> Int {
        max(512, ((length + 63) / 64 + 63) & ~63)
    }

    /// Number of tiles (1 when not split).
    public var count: Int { split == .none ? 1 : (extent + width - 1) / width }

    /// Tile t's index range along the cut side.
    public func range(_ t: Int) -> Range<Int> {
        t * width..<min(extent, (t + 1) * width)
    }
}
