/// Enumeration of every ordered K-prefix of N items (N!/(N−K)! of them), for the exact
/// oracles on tiny N (the tests keep N ≤ 10). Cost: O(K · N!/(N−K)!).
public enum PrefixEnumeration {
    /// Number of ordered K-prefixes of N items, saturating at `Int.max` (callers compare it
    /// with a budget; N = 10^6 must not overflow into a small number).
    public static func count(n: Int, k: Int) -> Int {
        var c = 1
        for i in 0..<Swift.min(k, n) {
            let (p, overflow) = c.multipliedReportingOverflow(by: n - i)
            if overflow { return Int.max }
            c = p
        }
        return c
    }

    /// Calls `body` with every ordered prefix of length `min(k, n)`.
    public static func forEach(n: Int, k: Int, _ body: ([Int]) throws -> Void) rethrows {
        let kk = Swift.min(k, n)
        var prefix: [Int] = []
        prefix.reserveCapacity(kk)
        var used = [Bool](repeating: false, count: n)
        func recurse() throws {
            if prefix.count == kk { try body(prefix); return }
            for i in 0..<n where !used[i] {
                used[i] = true; prefix.append(i)
                try recurse()
                prefix.removeLast(); used[i] = false
            }
        }
        try recurse()
    }
}
