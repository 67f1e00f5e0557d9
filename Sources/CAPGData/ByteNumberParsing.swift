import Foundation

/// Number parsing straight from bytes (no `String` per token), for the text readers.
///
/// `parseDouble` takes Clinger's fast path when the decimal has ≤ 19 significant digits, a
/// mantissa ≤ 2^53 and a power of ten |e| ≤ 22: then `m · 10^e` (or `m / 10^−e`) is one
/// correctly rounded IEEE operation on exact operands, so the result equals `strtod`'s.
/// Anything else (long mantissas, huge exponents, `nan`, `inf`, hex floats) falls back to
/// `strtod` on a NUL-terminated copy of the token, so all inputs parse exactly as C does.
enum ByteNumberParsing {
    @usableFromInline static let powersOfTen: [Double] = (0...22).map { Foundation.pow(10, Double($0)) }

    @inline(__always) static func isDigit(_ c: UInt8) -> Bool { c &- 0x30 < 10 }

    /// Non-negative decimal integer of the whole token `[p, end)`; nil if empty, not all
    /// digits, or above `limit`.
    @inline(__always)
    static func parseNonNegativeInt(_ p: UnsafePointer<UInt8>, _ end: UnsafePointer<UInt8>, limit: Int = Int(Int32.max)) -> Int? {
        guard p < end else { return nil }
        var v = 0
        var q = p
        while q < end {
            let d = q.pointee &- 0x30
            guard d < 10 else { return nil }
            v = v * 10 + Int(d)
            if v > limit { return nil }
            q += 1
        }
        return v
    }

    /// The decimal floating-point number of the whole token `[p, end)`, or nil if the
    /// token is not entirely a number.
    @inline(__always)
    static func parseDouble(_ p: UnsafePointer<UInt8>, _ end: UnsafePointer<UInt8>) -> Double? {
        var q = p
        guard q < end else { return nil }
        var negative = false
        if q.pointee == UInt8(ascii: "-") { negative = true; q += 1 } else if q.pointee == UInt8(ascii: "+") { q += 1 }
        var mantissa: UInt64 = 0
        var significant = 0, exponent = 0, digits = 0
        while q < end, isDigit(q.pointee) {
            let d = UInt64(q.pointee &- 0x30)
            if mantissa != 0 || d != 0 { significant += 1 }
            if significant <= 19 { mantissa = mantissa &* 10 &+ d } else { exponent += 1 }
            digits += 1; q += 1
        }
        if q < end, q.pointee == UInt8(ascii: ".") {
            q += 1
            while q < end, isDigit(q.pointee) {
                let d = UInt64(q.pointee &- 0x30)
                if mantissa != 0 || d != 0 { significant += 1 }
                if significant <= 19 { mantissa = mantissa &* 10 &+ d; exponent -= 1 }
                digits += 1; q += 1
            }
        }
        guard digits > 0 else { return strtodFallback(p, end) }
        if q < end, q.pointee | 0x20 == UInt8(ascii: "e") {
            q += 1
            var expNegative = false
            if q < end, q.pointee == UInt8(ascii: "-") { expNegative = true; q += 1 } else if q < end, q.pointee == UInt8(ascii: "+") { q += 1 }
            guard q < end, isDigit(q.pointee) else { return nil }
            var e = 0
            while q < end, isDigit(q.pointee) {
                e = min(e * 10 + Int(q.pointee &- 0x30), 100_000)
                q += 1
            }
            exponent += expNegative ? -e : e
        }
        guard q == end else { return strtodFallback(p, end) }
        if significant <= 19 && mantissa <= (1 << 53) && exponent >= -22 && exponent <= 22 {
            var v = Double(mantissa)
            v = exponent < 0 ? v / powersOfTen[-exponent] : v * powersOfTen[exponent]
            return negative ? -v : v
        }
        return strtodFallback(p, end)
    }

    /// `strtod` on a NUL-terminated copy; nil unless it consumes the whole token.
    static func strtodFallback(_ p: UnsafePointer<UInt8>, _ end: UnsafePointer<UInt8>) -> Double? {
        let n = end - p
        guard n > 0 && n < 512 else { return nil }
        return withUnsafeTemporaryAllocation(of: CChar.self, capacity: n + 1) { buf -> Double? in
            let b = buf.baseAddress!
            UnsafeMutableRawPointer(b).copyMemory(from: p, byteCount: n)
            b[n] = 0
            var stop: UnsafeMutablePointer<CChar>? = nil
            let v = strtod(b, &stop)
            guard let s = stop, s - b == n else { return nil }
            return v
        }
    }

    /// The token as text for an error message (truncated), decoding invalid UTF-8 leniently.
    static func text(_ p: UnsafePointer<UInt8>, _ end: UnsafePointer<UInt8>, limit: Int = 40) -> String {
        let n = min(end - p, limit)
        let s = String(decoding: UnsafeBufferPointer(start: p, count: n), as: UTF8.self)
        return end - p > limit ? s + "…" : s
    }
}
