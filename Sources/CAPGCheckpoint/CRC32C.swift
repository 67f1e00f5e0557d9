import CVectorMath

/// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of iSCSI, ext4 and
/// most storage formats: detects every burst error up to 32 bits and, for the chunk sizes
/// used here, every error of up to 4 bits. Computed with SSE4.2's crc32 instruction where the
/// CPU has it (`capg_crc32c_update`), else with slicing-by-8 tables (8 bytes per step, ~1–2 GB/s
/// in a release build); check value CRC32C("123456789") = 0xE3069283.
public struct CRC32C: Sendable {
    /// 8 tables of 256 entries: table k maps a byte to its CRC contribution k bytes later.
    private static let tables: [UInt32] = {
        var t = [UInt32](repeating: 0, count: 8 * 256)
        for i in 0..<256 {
            var c = UInt32(i)
            for _ in 0..<8 { c = c & 1 != 0 ? (c >> 1) ^ 0x82F6_3B78 : c >> 1 }
            t[i] = c
        }
        for k in 1..<8 {
            for i in 0..<256 {
                let prev = t[(k - 1) * 256 + i]
                t[k * 256 + i] = (prev >> 8) ^ t[Int(prev & 0xFF)]
            }
        }
        return t
    }()

    private var state: UInt32 = 0xFFFF_FFFF

    public init() {}

    /// The checksum of everything passed to `update` so far.
    public var value: UInt32 { ~state }

    /// Feeds bytes; O(count).
    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        // SSE4.2's crc32 instruction where the CPU has it (the same register update, ≈ 3×
        // the tables' rate); the tables otherwise.
        if Self.hardware {
            state = capg_crc32c_update(state, base.assumingMemoryBound(to: UInt8.self), bytes.count)
            return
        }
        updateWithTables(bytes)
    }

    /// Whether `update` uses the crc32 instruction (CPUID, read once per process).
    public static let hardware = capg_crc32c_available() != 0

    /// `update` by the slicing-by-8 tables (any CPU; also the tests' reference for the
    /// instruction path).
    public mutating func updateWithTables(_ bytes: UnsafeRawBufferPointer) {
        guard var p = bytes.baseAddress, bytes.count > 0 else { return }
        var n = bytes.count
        var c = state
        Self.tables.withUnsafeBufferPointer { tb in
            let t = tb.baseAddress!
            // Bytes until 8-aligned, then 8 at a time, then the tail.
            while n > 0 && Int(bitPattern: p) & 7 != 0 {
                c = t[Int((c ^ UInt32(p.load(as: UInt8.self))) & 0xFF)] ^ (c >> 8)
                p += 1; n -= 1
            }
            while n >= 8 {
                let word = UInt64(littleEndian: p.load(as: UInt64.self)) ^ UInt64(c)
                let lo = UInt32(truncatingIfNeeded: word), hi = UInt32(truncatingIfNeeded: word >> 32)
                c = t[7 * 256 + Int(lo & 0xFF)] ^ t[6 * 256 + Int((lo >> 8) & 0xFF)]
                    ^ t[5 * 256 + Int((lo >> 16) & 0xFF)] ^ t[4 * 256 + Int(lo >> 24)]
                    ^ t[3 * 256 + Int(hi & 0xFF)] ^ t[2 * 256 + Int((hi >> 8) & 0xFF)]
                    ^ t[1 * 256 + Int((hi >> 16) & 0xFF)] ^ t[Int(hi >> 24)]
                p += 8; n -= 8
            }
            while n > 0 {
                c = t[Int((c ^ UInt32(p.load(as: UInt8.self))) & 0xFF)] ^ (c >> 8)
                p += 1; n -= 1
            }
        }
        state = c
    }

    /// One-shot checksum of a buffer.
    public static func checksum(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        var c = CRC32C(); c.update(bytes); return c.value
    }

    /// One-shot checksum of a byte array.
    public static func checksum(_ bytes: [UInt8]) -> UInt32 {
        bytes.withUnsafeBytes { checksum($0) }
    }

    /// CRC32C(A ‖ B) from CRC32C(A), CRC32C(B) and the length of B, in O(log lengthB)
    /// 32×32 GF(2) matrix squarings (zlib's crc32_combine). Lets the whole-payload checksum
    /// be assembled from the per-frame checksums without a second pass over the bytes.
    public static func combine(_ crcA: UInt32, _ crcB: UInt32, lengthB: Int) -> UInt32 {
        guard lengthB > 0 else { return crcA }
        func times(_ mat: [UInt32], _ vec: UInt32) -> UInt32 {
            var sum: UInt32 = 0, v = vec, i = 0
            while v != 0 {
                if v & 1 != 0 { sum ^= mat[i] }
                v >>= 1; i += 1
            }
            return sum
        }
        func square(_ mat: [UInt32]) -> [UInt32] { (0..<32).map { times(mat, mat[$0]) } }
        // `odd`: the operator appending one zero bit; squared: two, four, ... zero bits.
        var odd = [UInt32](repeating: 0, count: 32)
        odd[0] = 0x82F6_3B78
        var row: UInt32 = 1
        for n in 1..<32 { odd[n] = row; row <<= 1 }
        var even = square(odd)   // 2 zero bits
        odd = square(even)       // 4 zero bits
        var crc = crcA, len = lengthB
        // Apply len zero *bytes* (8 bits each): start from the 8-bit operator.
        repeat {
            even = square(odd)
            if len & 1 != 0 { crc = times(even, crc) }
            len >>= 1
            if len == 0 { break }
            odd = square(even)
            if len & 1 != 0 { crc = times(odd, crc) }
            len >>= 1
        } while len != 0
        return crc ^ crcB
    }
}
